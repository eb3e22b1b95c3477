//! OpenAPI from traffic: templates, schemas and the disagreements `--diff`
//! reports, on requests written as suites hold them.

use serde_json::{json, Value};

use super::diff::diff;
use super::{document, template, Sample};
use crate::suite::{BodySpec, RequestSpec, ResponseSpec};

fn sample(
    method: &str,
    target: &str,
    req: Option<Value>,
    status: u16,
    res: Option<Value>,
) -> Sample {
    let json_type = vec![("content-type".to_owned(), "application/json".to_owned())];
    (
        RequestSpec {
            method: method.into(),
            target: target.into(),
            headers: if req.is_some() {
                json_type.clone()
            } else {
                vec![]
            },
            body: req.map(BodySpec::Json),
        },
        ResponseSpec {
            status,
            headers: if res.is_some() { json_type } else { vec![] },
            body_encoding: None,
            body: res.map(BodySpec::Json),
        },
    )
}

fn book(id: u64, title: &str, currency: &str) -> Value {
    json!({
        "id": id,
        "title": title,
        "currency": currency,
        "created_at": "2026-01-02T10:00:00Z",
        "ref": "6f1c2a9e-3b7d-4c1a-9e2f-0a1b2c3d4e5f",
        "note": null,
    })
}

#[test]
fn ids_in_paths_become_parameters_named_after_what_they_name() {
    assert_eq!(template("/books/6/quote").0, "/books/{id}/quote");
    assert_eq!(
        template("/authors/12/books/6f1c2a9e-3b7d-4c1a-9e2f-0a1b2c3d4e5f").0,
        "/authors/{author_id}/books/{id}"
    );
    assert_eq!(template("/books/${0008.response.body.id}").0, "/books/{id}");
    assert_eq!(template("/categories/7/items").0, "/categories/{id}/items");
    assert_eq!(template("/books/export").0, "/books/export");
    assert_eq!(template("/").0, "/");
}

#[test]
fn a_document_says_what_every_example_had_and_no_more() {
    let mut samples = vec![
        sample(
            "GET",
            "/books?page=1&per_page=2",
            None,
            200,
            Some(json!({"items": [book(1, "Dune", "USD"), book(2, "Emma", "EUR")]})),
        ),
        sample(
            "GET",
            "/books?page=2",
            None,
            200,
            Some(json!({"items": [book(3, "Ulysses", "USD"), book(4, "Beloved", "EUR")]})),
        ),
        sample("GET", "/books/1", None, 200, Some(book(1, "Dune", "USD"))),
        sample(
            "GET",
            "/books/2",
            None,
            200,
            Some(
                json!({"id": 2, "title": "Emma", "currency": "EUR", "created_at": "2026-01-02T10:00:00Z", "ref": "0b6f9d3c-8e21-4f7a-b1c2-9a8b7c6d5e4f", "note": "signed"}),
            ),
        ),
        sample(
            "GET",
            "/books/999",
            None,
            404,
            Some(json!({"error": "not found"})),
        ),
        sample(
            "POST",
            "/books",
            Some(json!({"title": "Dune", "price": 9.5})),
            201,
            Some(book(5, "Dune", "USD")),
        ),
        sample("DELETE", "/books/5", None, 204, None),
    ];
    samples[0]
        .0
        .headers
        .push(("Authorization".into(), "Bearer ${secret:TOKEN}".into()));
    let doc = document("books", Some("http://127.0.0.1:8080"), &samples);
    insta::assert_json_snapshot!(doc);
    // What the snapshot shows, said as rules:
    let item = &doc["paths"]["/books/{id}"]["get"]["responses"]["200"]["content"]
        ["application/json"]["schema"];
    assert_eq!(item["properties"]["ref"]["format"], "uuid");
    assert_eq!(item["properties"]["created_at"]["format"], "date-time");
    assert_eq!(
        item["properties"]["note"]["type"],
        json!(["string", "null"])
    );
    // Codes the app chose, seen often enough, are a closed set; a title,
    // which clients send, never is.
    let list =
        &doc["paths"]["/books"]["get"]["responses"]["200"]["content"]["application/json"]["schema"];
    assert_eq!(
        list["properties"]["items"]["items"]["properties"]["currency"]["enum"],
        json!(["EUR", "USD"])
    );
    assert!(list["properties"]["items"]["items"]["properties"]["title"]
        .get("enum")
        .is_none());
    let params = doc["paths"]["/books"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let page = params.iter().find(|p| p["name"] == "page").unwrap();
    assert_eq!(
        (page["required"].clone(), page["schema"]["type"].clone()),
        (json!(true), json!("integer"))
    );
    let per_page = params.iter().find(|p| p["name"] == "per_page").unwrap();
    assert_eq!(per_page["required"], false);
}

#[test]
fn diff_names_what_the_traffic_and_the_document_disagree_on() {
    let samples = vec![
        sample(
            "GET",
            "/books/1",
            None,
            200,
            Some(json!({"id": 1, "title": "Dune", "isbn": "978"})),
        ),
        sample("GET", "/books/2", None, 410, Some(json!({"error": "gone"}))),
        sample("GET", "/authors", None, 200, Some(json!([]))),
        sample("GET", "/books/export", None, 200, Some(json!({"rows": 1}))),
    ];
    let doc = json!({
        "openapi": "3.1.0",
        "servers": [{"url": "http://example.com"}],
        "paths": {
            "/books/{bookId}": {
                "get": {"responses": {"200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Book"}}}}, "404": {"description": "missing"}}},
                "delete": {"responses": {"204": {"description": "gone"}}}
            },
            "/books/export": {"get": {"responses": {"default": {"description": "any", "content": {"application/json": {"schema": {"type": "object", "properties": {"rows": {"type": "integer"}}}}}}}}}
        },
        "components": {"schemas": {"Book": {"allOf": [
            {"type": "object", "properties": {"id": {"type": "integer"}, "title": {"type": "string"}}},
            {"properties": {"price": {"type": "number"}}}
        ]}}}
    });
    let found: Vec<String> = diff(&doc, &samples)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        found,
        [
            "DELETE /books/{bookId}: documented, never seen in the traffic",
            "GET /authors: not documented (1 recorded)",
            "GET /books/{bookId}: status 200: documented field $.price never seen",
            "GET /books/{bookId}: status 200: field $.isbn is not documented",
            "GET /books/{bookId}: status 410 is not documented",
        ]
    );
}

/// What a review of the first version found, each as a rule.
#[test]
fn what_traffic_does_not_show_is_not_claimed() {
    assert_eq!(
        super::split_target("/login?next=https://example.com/home").0,
        "/login"
    );
    assert_eq!(super::split_target("http://h:8/a/b?x=1").0, "/a/b");
    let state = |v: Value| {
        sample(
            "GET",
            "/s?sort=asc&tag=a&tag=b",
            None,
            200,
            Some(json!({"state": v})),
        )
    };
    let mut samples = vec![
        state(json!("ok")),
        state(json!("ok")),
        state(json!("ok")),
        state(json!("ok")),
        state(json!(1)),
        sample("PURGE", "/s", None, 200, None),
        sample("GET", "/s/1", None, 503, Some(json!({"fault": "down"}))),
    ];
    samples[6].1.headers.clear();
    let doc = document("s", None, &samples);
    let get = &doc["paths"]["/s"]["get"];
    let state =
        &get["responses"]["200"]["content"]["application/json"]["schema"]["properties"]["state"];
    assert_eq!(state["type"], json!(["string", "integer"]));
    assert!(
        state.get("enum").is_none(),
        "an enum of the strings would refuse the 1: {state}"
    );
    let params = get["parameters"].as_array().unwrap();
    let sort = params.iter().find(|p| p["name"] == "sort").unwrap();
    assert!(
        sort["schema"].get("enum").is_none(),
        "clients choose it: {sort}"
    );
    let tag = params.iter().find(|p| p["name"] == "tag").unwrap();
    assert_eq!(tag["schema"]["type"], "array");
    assert!(
        doc["paths"]["/s"].get("purge").is_none(),
        "OpenAPI has no PURGE"
    );
    // Unseen client errors are documented without a shape; server errors
    // with the one seen, its body under */* (it named no type).
    assert_eq!(
        get["responses"]["4XX"]["description"],
        "A client error (none was recorded)"
    );
    assert!(get["responses"]["4XX"].get("content").is_none());
    assert_eq!(
        get["responses"]["5XX"]["content"]["*/*"]["schema"]["required"],
        json!(["fault"])
    );
    assert!(
        get["responses"].get("default").is_none(),
        "a success not seen stays undocumented"
    );
}

#[test]
fn diff_follows_refs_ranges_media_parameters_and_open_objects() {
    let mut samples = vec![
        sample(
            "GET",
            "/files/a.json",
            None,
            200,
            Some(json!({"name": "a", "size": "12", "extra": 1})),
        ),
        sample(
            "GET",
            "/items",
            None,
            200,
            Some(json!({"id": 1, "note": "x"})),
        ),
    ];
    samples[0].1.headers = vec![(
        "content-type".into(),
        "application/json; charset=utf-8".into(),
    )];
    samples.push(sample(
        "POST",
        "/items?dry=1&filter[a]=2",
        Some(json!({"id": "7", "tags": []})),
        200,
        None,
    ));
    let doc = json!({
        "openapi": "3.1.0",
        "paths": {
            "/files/{name}.json": {"get": {"responses": {"200": {"$ref": "#/components/responses/File"}}}},
            "/items": {
                "parameters": [{"name": "filter", "in": "query", "style": "deepObject", "schema": {"type": "object"}}],
                "get": {"responses": {"2XX": {"content": {"*/*": {"schema": {
                    "type": "object", "properties": {"id": {"type": "integer"}}, "additionalProperties": true
                }}}}}},
                "post": {
                    "requestBody": {"content": {"application/json": {"schema": {
                        "type": "object", "properties": {"id": {"type": "integer"}}
                    }}}},
                    "responses": {"200": {"description": "ok"}}
                }
            }
        },
        "components": {"responses": {"File": {"description": "a file", "content": {"application/json": {"schema": {
            "type": "object", "properties": {"name": {"type": "string"}, "size": {"type": "integer"}}
        }}}}}}
    });
    let found: Vec<String> = diff(&doc, &samples)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        found,
        [
            "GET /files/{name}.json: status 200: $.size is string in the traffic, integer in the document",
            "GET /files/{name}.json: status 200: field $.extra is not documented",
            "POST /items: query parameter dry is not documented",
            "POST /items: request $.id is string in the traffic, integer in the document",
            "POST /items: request field $.tags is not documented",
        ]
    );
}
