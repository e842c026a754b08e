"""figsync figma service: parses notification emails, finds the comment, rebuilds the thread."""
