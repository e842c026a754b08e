"""The Notion sandbox answers with the recorded shapes, and validates as Notion does."""

from __future__ import annotations

import httpx
import pytest
from sandbox_shapes import assert_same_shape, recorded

from figsync_sandbox import (
    BUGS_DATA_SOURCE_ID,
    BUGS_DATABASE_ID,
    NOTION_VERSION,
    PRIVATE_DATABASE_ID,
    TASKS_DATA_SOURCE_ID,
    TASKS_DATABASE_ID,
)


@pytest.fixture
async def notion(sandbox_api):
    sandbox_api.notion.configure(burst=1000)
    headers = {
        "Authorization": f"Bearer {sandbox_api.notion_token}",
        "Notion-Version": NOTION_VERSION,
    }
    async with httpx.AsyncClient(base_url=sandbox_api.notion_url, headers=headers) as client:
        yield client
    sandbox_api.notion.configure(burst=10)


def task_properties(title="Review onboarding copy", **extra):
    props = {
        "Title": {"title": [{"text": {"content": title}}]},
        "Summary": {"rich_text": [{"text": {"content": "Anna should review the copy."}}]},
        "Figma Thread": {"url": "https://www.figma.com/design/abc/File#1"},
        "Priority": {"select": {"name": "high"}},
        "Category": {"select": {"name": "review"}},
        "Status": {"status": {"name": "Not started"}},
    }
    props.update(extra)
    return props


async def create_task(notion, title="Review onboarding copy", **extra):
    return await notion.post(
        "/v1/pages",
        json={
            "parent": {"data_source_id": TASKS_DATA_SOURCE_ID},
            "properties": task_properties(title, **extra),
            "children": [
                {"paragraph": {"rich_text": [{"text": {"content": "From Figma"}}]}},
                {"type": "to_do", "to_do": {"rich_text": [{"text": {"content": "Review"}}]}},
            ],
        },
    )


async def test_users_me_has_the_recorded_shape(notion):
    resp = await notion.get("/v1/users/me")
    assert resp.status_code == 200
    assert_same_shape(resp.json(), recorded("GET", "users/{id}"))


async def test_database_lists_its_data_source_with_the_recorded_shape(notion):
    resp = await notion.get(f"/v1/databases/{TASKS_DATABASE_ID}")
    assert resp.status_code == 200
    assert_same_shape(resp.json(), recorded("GET", "databases/{id}"))
    assert resp.json()["data_sources"] == [{"id": TASKS_DATA_SOURCE_ID, "name": "Tasks"}]


async def test_data_source_has_the_seed_schema_and_recorded_shape(notion):
    resp = await notion.get(f"/v1/data_sources/{TASKS_DATA_SOURCE_ID}")
    assert resp.status_code == 200
    body = resp.json()
    assert_same_shape(body, recorded("GET", "data_sources/{id}"))
    types = {name: p["type"] for name, p in body["properties"].items()}
    assert types == {
        "Title": "title",
        "Summary": "rich_text",
        "Figma File": "url",
        "Figma Thread": "url",
        "Priority": "select",
        "Category": "select",
        "Action Items": "rich_text",
        "Status": "status",
        "Created From": "rich_text",
        "Mentioned User": "rich_text",
    }
    options = [o["name"] for o in body["properties"]["Priority"]["select"]["options"]]
    assert options == ["low", "medium", "high"]


async def test_patch_data_source_adds_a_property(notion):
    resp = await notion.patch(
        f"/v1/data_sources/{TASKS_DATA_SOURCE_ID}",
        json={"properties": {"Sync Id": {"rich_text": {}}}},
    )
    assert resp.status_code == 200
    assert_same_shape(resp.json(), recorded("PATCH", "data_sources/{id}"))
    assert resp.json()["properties"]["Sync Id"]["type"] == "rich_text"
    created = await create_task(notion, **{"Sync Id": {"rich_text": [{"text": {"content": "j1"}}]}})
    assert created.status_code == 200, created.text


async def test_create_retrieve_update_query_page(sandbox_api, notion):
    created = await create_task(notion)
    assert created.status_code == 200, created.text
    page = created.json()
    assert_same_shape(page, recorded("POST", "pages"))
    assert page["parent"] == {
        "type": "data_source_id",
        "data_source_id": TASKS_DATA_SOURCE_ID,
        "database_id": TASKS_DATABASE_ID,
    }
    assert page["properties"]["Mentioned User"]["rich_text"] == []

    got = await notion.get(f"/v1/pages/{page['id'].replace('-', '')}")
    assert_same_shape(got.json(), recorded("GET", "pages/{id}"))
    assert got.json()["properties"] == page["properties"]

    updated = await notion.patch(
        f"/v1/pages/{page['id']}", json={"properties": {"Status": {"status": {"name": "Done"}}}}
    )
    assert_same_shape(updated.json(), recorded("PATCH", "pages/{id}"))
    assert updated.json()["properties"]["Status"]["status"]["name"] == "Done"

    await create_task(notion, "Something else")
    query = await notion.post(
        f"/v1/data_sources/{TASKS_DATA_SOURCE_ID}/query",
        json={"filter": {"property": "Title", "title": {"equals": "Review onboarding copy"}}},
    )
    assert_same_shape(query.json(), recorded("POST", "data_sources/{id}/query"))
    assert [r["id"] for r in query.json()["results"]] == [page["id"]]

    by_url = await notion.post(
        f"/v1/data_sources/{TASKS_DATA_SOURCE_ID}/query",
        json={
            "filter": {
                "and": [
                    {
                        "property": "Figma Thread",
                        "url": {"equals": "https://www.figma.com/design/abc/File#1"},
                    },
                    {"property": "Summary", "rich_text": {"contains": "Anna"}},
                    {"property": "Priority", "select": {"equals": "high"}},
                ]
            }
        },
    )
    assert len(by_url.json()["results"]) == 2
    plain = [p.plain() for p in sandbox_api.notion.created_pages()]
    assert [p["Title"] for p in plain] == ["Review onboarding copy", "Something else"]


async def test_database_id_parent_resolves_to_its_data_source(notion):
    resp = await notion.post(
        "/v1/pages",
        json={"parent": {"database_id": TASKS_DATABASE_ID}, "properties": task_properties()},
    )
    assert resp.status_code == 200
    assert resp.json()["parent"]["data_source_id"] == TASKS_DATA_SOURCE_ID


async def test_blocks_are_listed_as_children(notion):
    page = (await create_task(notion)).json()
    resp = await notion.get(f"/v1/blocks/{page['id']}/children")
    assert [b["type"] for b in resp.json()["results"]] == ["paragraph", "to_do"]


async def expect_error(resp, status, code, text=None):
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert_same_shape(
        {k: v for k, v in body.items() if k != "additional_data"}, recorded("GET", "invalid", 400)
    )
    assert body["code"] == code
    if text is not None:
        assert text in body["message"], body["message"]
    return body


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"Nope": {"rich_text": []}}, "Nope is not a property that exists."),
        ({"Summary": {"select": {"name": "x"}}}, "Summary is expected to be rich_text."),
        (
            {"Summary": {"rich_text": [{"text": {"content": "a" * 2001}}]}},
            "body.properties.Summary.rich_text[0].text.content.length should be ≤ `2000`, "
            "instead was `2001`.",
        ),
        (
            {"Summary": {"rich_text": [{"text": {"content": "a"}}] * 101}},
            "body.properties.Summary.rich_text.length should be ≤ `100`, instead was `101`.",
        ),
        ({"Status": {"status": {"name": "Blocked"}}}, 'Status option "Blocked" does not exist'),
        ({"Priority": {"select": {"name": "a,b"}}}, "commas not allowed"),
        ({"Figma Thread": {"url": 42}}, "body.properties.Figma Thread.url should be"),
        ({"Summary": {"rich_text": "plain"}}, "should be an array"),
    ],
    ids=["unknown", "wrong-type", "too-long", "too-many", "status", "comma", "url-type", "rt-type"],
)
async def test_invalid_properties_are_validation_errors(notion, extra, message):
    resp = await create_task(notion, **extra)
    await expect_error(resp, 400, "validation_error", message)


async def test_too_many_blocks_is_a_validation_error(notion):
    block = {"paragraph": {"rich_text": [{"text": {"content": "x"}}]}}
    resp = await notion.post(
        "/v1/pages",
        json={
            "parent": {"data_source_id": TASKS_DATA_SOURCE_ID},
            "properties": task_properties(),
            "children": [block] * 101,
        },
    )
    await expect_error(
        resp, 400, "validation_error", "body.children.length should be ≤ `100`, instead was `101`."
    )


async def test_unknown_select_option_is_created_like_notion_or_refused_when_configured(
    sandbox_api, notion
):
    resp = await create_task(notion, Priority={"select": {"name": "urgent"}})
    assert resp.status_code == 200
    schema = (await notion.get(f"/v1/data_sources/{TASKS_DATA_SOURCE_ID}")).json()
    assert "urgent" in [o["name"] for o in schema["properties"]["Priority"]["select"]["options"]]
    sandbox_api.notion.configure(create_select_options=False)
    resp = await create_task(notion, Category={"select": {"name": "marketing"}})
    await expect_error(resp, 400, "validation_error", 'Invalid select option "marketing"')


async def test_malformed_json_and_wrong_body_types(notion):
    resp = await notion.post(
        "/v1/pages", content=b"{oops", headers={"content-type": "application/json"}
    )
    await expect_error(resp, 400, "invalid_json", "Error parsing JSON body.")
    resp = await notion.post("/v1/pages", json={"parent": "x"})
    await expect_error(resp, 400, "validation_error", "body.parent should be an object")
    resp = await notion.post(
        f"/v1/data_sources/{TASKS_DATA_SOURCE_ID}/query", json={"page_size": 101}
    )
    await expect_error(resp, 400, "validation_error", "body.page_size should be ≤ `100`")
    resp = await notion.get("/v1/pages/not-a-uuid")
    await expect_error(resp, 400, "validation_error", "path.page_id should be a valid uuid")
    resp = await notion.post("/v1/pages", content=b'{"x": "' + b"a" * 600_000 + b'"}')
    await expect_error(resp, 413, "validation_error")


async def test_unshared_database_is_object_not_found(sandbox_api, notion):
    resp = await notion.get(f"/v1/databases/{PRIVATE_DATABASE_ID}")
    body = await expect_error(resp, 404, "object_not_found", 'integration "figsync"')
    assert_same_shape(body, recorded("GET", "pages/{id}", 404))
    resp = await notion.post(
        "/v1/pages", json={"parent": {"database_id": PRIVATE_DATABASE_ID}, "properties": {}}
    )
    await expect_error(resp, 404, "object_not_found")
    sandbox_api.notion.share(PRIVATE_DATABASE_ID)
    assert (await notion.get(f"/v1/databases/{PRIVATE_DATABASE_ID}")).status_code == 200


async def test_auth_version_and_url_errors(sandbox_api, notion):
    resp = await notion.get("/v1/users/me", headers={"Authorization": "Bearer ntn_wrong"})
    body = await expect_error(resp, 401, "unauthorized", "API token is invalid.")
    assert_same_shape(body, recorded("GET", "users", 401))
    async with httpx.AsyncClient(base_url=sandbox_api.notion_url) as bare:
        resp = await bare.get(
            "/v1/users/me", headers={"Authorization": f"Bearer {sandbox_api.notion_token}"}
        )
    await expect_error(resp, 400, "missing_version", "Notion-Version header")
    resp = await notion.get("/v1/invalid")
    await expect_error(resp, 400, "invalid_request_url", "Invalid request URL.")


async def test_rate_limit_allows_a_burst_then_answers_429_with_retry_after(sandbox_api, notion):
    sandbox_api.notion.configure(rate_per_second=3.0, burst=5)
    statuses = [(await notion.get("/v1/users/me")).status_code for _ in range(7)]
    assert statuses[:5] == [200] * 5 and 429 in statuses[5:]
    resp = await notion.get("/v1/users/me")
    await expect_error(resp, 429, "rate_limited")
    assert int(resp.headers["Retry-After"]) >= 1


# -- users and people properties ---------------------------------------------------------------


async def test_users_are_listed_page_by_page_with_cursors(notion, sandbox_api):
    seeded = await notion.post(
        "/_sandbox/users",
        json={"users": [{"name": f"Person {i}", "email": f"p{i}@example.com"} for i in range(4)]},
    )
    assert seeded.status_code == 200, seeded.text
    seen, cursor, pages = [], None, 0
    while True:
        params = {"page_size": "2", **({"start_cursor": cursor} if cursor else {})}
        resp = await notion.get("/v1/users", params=params)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["object"] == "list" and body["type"] == "user" and len(body["results"]) <= 2
        seen += body["results"]
        pages += 1
        if not body["has_more"]:
            assert body["next_cursor"] is None
            break
        cursor = body["next_cursor"]
    # The default person, the four seeded, and the integration's bot: 6 users in 3 pages.
    assert pages == 3 and len({u["id"] for u in seen}) == 6
    people = [u for u in seen if u["type"] == "person"]
    assert {u["person"]["email"] for u in people} >= {f"p{i}@example.com" for i in range(4)}
    assert all(u["object"] == "user" and "name" in u and "avatar_url" in u for u in seen)
    assert [u["type"] for u in seen].count("bot") == 1


async def test_users_list_refuses_bad_paging_and_bad_tokens(notion, sandbox_api):
    for params in ({"page_size": "0"}, {"page_size": "101"}, {"page_size": "x"},
                   {"start_cursor": "not-a-cursor"}):  # fmt: skip
        resp = await notion.get("/v1/users", params=params)
        assert resp.status_code == 400, params
        assert resp.json()["code"] == "validation_error"
    async with httpx.AsyncClient(base_url=sandbox_api.notion_url) as anonymous:
        refused = await anonymous.get(
            "/v1/users",
            headers={"Authorization": "Bearer ntn_wrong", "Notion-Version": NOTION_VERSION},
        )
    assert refused.status_code == 401
    assert_same_shape(refused.json(), recorded("GET", "users", 401))


async def test_a_people_property_takes_workspace_users_only(notion, sandbox_api):
    seeded = await notion.post("/_sandbox/databases", json={
        "title": "Assigned", "properties": {"Name": {"title": {}}, "Assignee": {"people": {}}}})  # fmt: skip
    source = seeded.json()["data_source_id"]
    ann = (await notion.post("/_sandbox/users", json={"users": [{"name": "Ann"}]})).json()["ids"][0]

    async def create(people):
        return await notion.post("/v1/pages", json={
            "parent": {"data_source_id": source},
            "properties": {"Name": {"title": [{"text": {"content": "t"}}]},
                           "Assignee": {"people": people}}})  # fmt: skip

    made = await create([{"object": "user", "id": ann}, {"object": "user", "id": ann}])
    assert made.status_code == 200, made.text
    value = made.json()["properties"]["Assignee"]
    assert value["type"] == "people" and [u["id"] for u in value["people"]] == [ann]
    assert value["people"][0]["name"] == "Ann" and value["people"][0]["type"] == "person"
    stranger = await create([{"object": "user", "id": "11111111-2222-4333-8444-555555555555"}])
    assert stranger.status_code == 400 and "Could not find user" in stranger.json()["message"]
    for bad in ({"id": ann}, [{"id": "nope"}], [{"object": "user", "id": ann}] * 101):
        resp = await create(bad)
        assert resp.status_code == 400, bad
    empty = await notion.post("/v1/pages", json={"parent": {"data_source_id": source},
        "properties": {"Name": {"title": [{"text": {"content": "u"}}]}}})  # fmt: skip
    assert empty.json()["properties"]["Assignee"]["people"] == []


async def test_several_databases_each_keep_their_own_schema_and_pages(notion):
    async def create(source, properties):
        return await notion.post(
            "/v1/pages", json={"parent": {"data_source_id": source}, "properties": properties}
        )

    bugs = await notion.get(f"/v1/databases/{BUGS_DATABASE_ID}")
    assert bugs.json()["data_sources"] == [{"id": BUGS_DATA_SOURCE_ID, "name": "Bugs"}]
    seeded = await notion.post("/_sandbox/databases", json={
        "title": "Reviews", "properties": {"Name": {"title": {}}},
        "id": "12345678-1234-4234-8234-123456789abc",
        "data_source_id": "87654321-4321-4321-8321-cba987654321"})  # fmt: skip
    assert seeded.json() == {"id": "12345678-1234-4234-8234-123456789abc",
                             "data_source_id": "87654321-4321-4321-8321-cba987654321"}  # fmt: skip
    title = [{"text": {"content": "Crash on save"}}]
    made = await create(BUGS_DATA_SOURCE_ID, {"Name": {"title": title},
                                              "Severity": {"select": {"name": "high"}}})  # fmt: skip
    assert made.status_code == 200, made.text
    assert made.json()["parent"]["database_id"] == BUGS_DATABASE_ID
    review = await create(seeded.json()["data_source_id"], {"Name": {"title": title}})
    assert review.status_code == 200, review.text
    # The Tasks schema is not the Bugs one: its properties are refused there.
    wrong = await create(BUGS_DATA_SOURCE_ID, {"Title": {"title": title}})
    assert wrong.status_code == 400 and "Title is not a property" in wrong.json()["message"]
    only_bugs = (await notion.get(f"/_sandbox/pages?data_source_id={BUGS_DATA_SOURCE_ID}")).json()
    assert [p["id"] for p in only_bugs["pages"]] == [made.json()["id"]]
    assert len((await notion.get("/_sandbox/pages")).json()["pages"]) == 2
    query = await notion.post(f"/v1/data_sources/{TASKS_DATA_SOURCE_ID}/query", json={})
    assert query.json()["results"] == []
