use super::*;

/// Entries as Chromium's devtools write them: HTTP/2 pseudo-headers, a
/// gzip answer kept decoded, a binary answer in base64, a request the
/// browser never got an answer to, a URL that is not HTTP, and calls to a
/// second host.
const HAR: &str = r#"{"log": {"version": "1.2", "creator": {"name": "WebInspector", "version": "537.36"},
  "entries": [
    {"startedDateTime": "2026-12-06T10:00:00.100Z", "time": 12.5, "connection": "41",
     "request": {"method": "GET", "url": "http://127.0.0.1:8080/books?q=rust", "httpVersion": "HTTP/1.1",
       "headers": [{"name": "Host", "value": "127.0.0.1:8080"}, {"name": "Accept", "value": "application/json"}],
       "queryString": [], "cookies": [], "headersSize": -1, "bodySize": 0},
     "response": {"status": 200, "statusText": "OK", "httpVersion": "HTTP/1.1",
       "headers": [{"name": "Content-Type", "value": "application/json"}, {"name": "Content-Encoding", "value": "gzip"}, {"name": "Content-Length", "value": "31"}],
       "content": {"size": 14, "mimeType": "application/json", "text": "{\"total\":5}"}, "redirectURL": "", "headersSize": -1, "bodySize": 31},
     "cache": {}, "timings": {"blocked": 1, "dns": -1, "connect": -1, "send": 0.5, "wait": 10, "receive": 1}},
    {"startedDateTime": "2026-12-06T10:00:00.050Z", "time": 3,
     "request": {"method": "POST", "url": "http://127.0.0.1:8080/books", "httpVersion": "h2",
       "headers": [{"name": ":authority", "value": "127.0.0.1:8080"}, {"name": "content-type", "value": "application/json"}],
       "postData": {"mimeType": "application/json", "text": "{\"title\":\"T\"}"}},
     "response": {"status": 201, "httpVersion": "h2", "headers": [], "content": {"size": 0, "text": ""}},
     "timings": {"wait": 2}},
    {"startedDateTime": "2026-12-06T10:00:00.200Z", "time": 4,
     "request": {"method": "GET", "url": "http://127.0.0.1:18081/price?isbn=1", "httpVersion": "HTTP/1.1", "headers": []},
     "response": {"status": 200, "httpVersion": "HTTP/1.1", "headers": [],
       "content": {"size": 3, "mimeType": "application/octet-stream", "text": "AAEC", "encoding": "base64"}},
     "timings": {}},
    {"startedDateTime": "2026-12-06T10:00:00.300Z", "time": 0,
     "request": {"method": "GET", "url": "http://127.0.0.1:8080/slow", "httpVersion": "", "headers": []},
     "response": {"status": 0, "httpVersion": "", "headers": [], "content": {"size": 0}}, "timings": {}},
    {"startedDateTime": "2026-12-06T10:00:00.400Z", "time": 1,
     "request": {"method": "GET", "url": "ws://127.0.0.1:8080/live", "headers": []},
     "response": {"status": 101, "headers": [], "content": {}}, "timings": {}},
    {"startedDateTime": "2026-12-06T10:00:00.500Z", "time": 1,
     "request": {"method": "GET", "url": "http://127.0.0.1:8080/health", "headers": [{"name": "x"}]},
     "response": {"status": 200, "headers": [], "content": {}}, "timings": {}}
  ]}}"#;

fn request(x: &Exchange) -> &HttpRequest {
    match &x.request {
        Payload::HttpRequest(r) => r,
        other => panic!("{other:?}"),
    }
}

fn response(x: &Exchange) -> &HttpResponse {
    match &x.response {
        Some(Payload::HttpResponse(r)) => r,
        other => panic!("{other:?}"),
    }
}

#[test]
fn entries_become_inbound_and_outbound_exchanges_and_the_rest_is_named() {
    let har = read(HAR.as_bytes(), None).unwrap();
    assert_eq!(har.app, "http://127.0.0.1:8080");
    assert!(har.app_guessed);
    assert_eq!(
        har.dependencies,
        [ImportedDependency {
            name: "127-0-0-1-18081".into(),
            at: "127.0.0.1:18081".into(),
            scheme: "http".into()
        }]
    );
    assert_eq!(
        har.skipped,
        [
            "entry 3: response.status: 0 (the client got no answer: blocked, failed or cancelled)",
            "entry 4: request.url: scheme 'ws' is not HTTP",
            "entry 5: request.headers[0]: a header needs a name and a value",
        ]
    );
    // In the order they started, numbered afresh.
    let x = &har.exchanges;
    assert_eq!(x.len(), 3);
    assert_eq!(x.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3]);
    let post = request(&x[0]);
    assert_eq!(
        (post.method.as_str(), post.target.as_str()),
        ("POST", "/books")
    );
    assert_eq!(post.version, "HTTP/1.1");
    assert_eq!(post.body.bytes, br#"{"title":"T"}"#);
    assert!(post.headers.iter().all(|h| !h.name.starts_with(':')));
    assert!(post
        .headers
        .iter()
        .any(|h| h.name == "host" && h.value == b"127.0.0.1:8080"));
    assert_eq!(x[0].direction, Direction::Inbound);

    let get = &x[1];
    assert_eq!(request(get).target, "/books?q=rust");
    assert_eq!(get.connection, 41);
    let r = response(get);
    assert_eq!(r.body.bytes, br#"{"total":5}"#);
    assert!(!r
        .headers
        .iter()
        .any(|h| h.name.eq_ignore_ascii_case("content-encoding")));
    let length = r
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"));
    assert_eq!(length.map(|h| h.value.as_slice()), Some(&b"11"[..]));
    assert_eq!(get.started_at.rfc3339(), "2026-12-06T10:00:00.100000Z");
    assert_eq!(get.first_byte_at.unwrap().0 - get.started_at.0, 11_500);
    assert_eq!(get.ended_at.unwrap().0 - get.started_at.0, 12_500);

    let price = &x[2];
    assert_eq!(price.direction, Direction::Outbound);
    assert_eq!(price.dependency.as_deref(), Some("127-0-0-1-18081"));
    assert_eq!(response(price).body.bytes, [0, 1, 2]);
}

#[test]
fn the_app_host_can_be_named_and_bad_files_say_why() {
    let har = read(HAR.as_bytes(), Some("127.0.0.1:18081")).unwrap();
    assert_eq!(har.app, "http://127.0.0.1:18081");
    assert!(!har.app_guessed);
    assert_eq!(
        har.exchanges
            .iter()
            .filter(|x| x.direction == Direction::Inbound)
            .count(),
        1
    );
    assert!(matches!(
        read(HAR.as_bytes(), Some("example.com")),
        Err(HarError::NoSuchHost(_))
    ));
    assert!(matches!(
        read(b"{\"log\": {}}", None),
        Err(HarError::NoEntries)
    ));
    assert!(matches!(read(b"<html>", None), Err(HarError::Json(_))));
    let saved_without = br#"{"log": {"entries": [{"startedDateTime": "2026-12-06T10:00:00Z",
        "request": {"method": "GET", "url": "http://h/x", "headers": []},
        "response": {"status": 200, "headers": [], "content": {"size": 12}}}]}}"#;
    assert_eq!(
        read(saved_without, None).unwrap_err().to_string(),
        "no entry could be taken:\n  entry 0: response.content.text: missing for a body of 12 bytes (saved without content?)"
    );
    assert!(parse_url("http://h:/x").is_err() && parse_url("http://h:99999/").is_err());
    let none = read(br#"{"log": {"entries": [{"request": {}}]}}"#, None).unwrap_err();
    assert_eq!(
        none.to_string(),
        "no entry could be taken:\n  entry 0: request.url: missing"
    );
}

#[test]
fn urls_are_split_with_their_default_port() {
    let u = parse_url("https://API.example.com?x=1#top").unwrap();
    assert_eq!(
        (u.scheme.as_str(), u.authority.as_str(), u.target.as_str()),
        ("https", "api.example.com:443", "/?x=1")
    );
    let u = parse_url("http://user@[::1]:8080/a/b").unwrap();
    assert_eq!(
        (u.authority.as_str(), u.target.as_str()),
        ("[::1]:8080", "/a/b")
    );
    assert_eq!(dependency_name("api.example.com:443"), "api-example-com");
    assert_eq!(dependency_name("[::1]:8080"), "1-8080");
    assert_eq!(dependency_name("localhost:9000"), "localhost-9000");
}

/// A text field with bytes that are not UTF-8 costs nothing else: its entry
/// is taken with U+FFFD in their place, and that is said.
#[test]
fn bytes_that_are_not_utf8_are_read_as_replacement_characters_and_said() {
    let mut bytes = HAR.as_bytes().to_vec();
    // The `T` of the POST's `{\"title\":\"T\"}`.
    let at = HAR.find(r#"\"T\""#).unwrap() + 2;
    bytes[at] = 0xFF;
    let har = read(&bytes, None).unwrap();
    assert_eq!(har.exchanges.len(), 3);
    assert_eq!(
        har.notes,
        [format!(
            "bytes that are not UTF-8 (the first at byte {at}) were read as U+FFFD"
        )]
    );
    assert!(String::from_utf8_lossy(&request(&har.exchanges[0]).body.bytes).contains('\u{FFFD}'));
}

/// What `write` makes reads back as what was read: each entry's request
/// and answer, to the app or to a dependency at its recorded address; a
/// credential becomes the placeholder a suite holds, unless kept.
#[test]
fn a_session_written_as_har_reads_back_and_keeps_its_credentials_out() {
    let read_first = read(HAR.as_bytes(), None).unwrap();
    let mut exchanges = read_first.exchanges.clone();
    if let Payload::HttpRequest(r) = &mut exchanges[0].request {
        r.headers.push(Header::new(
            "Authorization",
            b"Bearer 9f86d081884c7d659a2feaa0c55ad015".to_vec(),
        ));
    }
    let session = crate::model::Session {
        id: 1,
        name: "s".into(),
        started_at: Micros(0),
        ended_at: None,
        target: read_first.app.clone(),
        notes: None,
        dropped: 0,
        setup: serde_json::json!({"dependencies": [
            {"name": "127-0-0-1-18081", "protocol": "http", "listen": "127.0.0.1:18081", "target": "http://127.0.0.1:18081"}
        ]}),
    };
    let mut secrets = crate::secrets::Secrets::default();
    let (har, other) = write(&session, &exchanges, Some(&mut secrets));
    assert_eq!(other, 0);
    let text = serde_json::to_string(&har).unwrap();
    assert!(!text.contains("9f86d081884c7d659a2feaa0c55ad015"), "{text}");
    assert!(text.contains("${secret:"), "{text}");
    let again = read(text.as_bytes(), None).unwrap();
    assert_eq!(again.app, read_first.app);
    assert_eq!(again.dependencies, read_first.dependencies);
    assert!(again.skipped.is_empty(), "{:?}", again.skipped);
    for (a, b) in again.exchanges.iter().zip(&read_first.exchanges) {
        assert_eq!(
            (request(a).method.as_str(), request(a).target.as_str()),
            (request(b).method.as_str(), request(b).target.as_str())
        );
        assert_eq!(request(a).body.bytes, request(b).body.bytes);
        assert_eq!(response(a).status, response(b).status);
        assert_eq!(response(a).body.bytes, response(b).body.bytes);
        assert_eq!(a.started_at, b.started_at);
    }
    let (kept, _) = write(&session, &exchanges, None);
    assert!(serde_json::to_string(&kept)
        .unwrap()
        .contains("9f86d081884c7d659a2feaa0c55ad015"));
}

/// A token an answer hands out and a later request sends as its bearer
/// is a secret from the start: the earlier answer does not keep it either,
/// nor does a URL's user information.
#[test]
fn a_secret_found_late_leaves_no_earlier_copy_in_the_export() {
    let mut exchanges = read(HAR.as_bytes(), None).unwrap().exchanges;
    let token = "9f86d081884c7d659a2feaa0c55ad015";
    if let Some(Payload::HttpResponse(r)) = &mut exchanges[1].response {
        r.body = Body::complete(format!("{{\"value\":\"{token}\"}}").into_bytes());
    }
    if let Payload::HttpRequest(r) = &mut exchanges[2].request {
        r.headers.push(Header::new(
            "Authorization",
            format!("Bearer {token}").into_bytes(),
        ));
    }
    let session = crate::model::Session {
        id: 1,
        name: "s".into(),
        started_at: Micros(0),
        ended_at: None,
        target: "http://ann:hunter2@127.0.0.1:8080".into(),
        notes: None,
        dropped: 0,
        setup: serde_json::json!({}),
    };
    let mut secrets = crate::secrets::Secrets::default();
    let (har, _) = write(&session, &exchanges, Some(&mut secrets));
    let text = serde_json::to_string(&har).unwrap();
    assert!(!text.contains(token), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    assert!(text.contains("http://127.0.0.1:8080/books"), "{text}");
}

/// A dependency the page reached over TLS stays https: the session says
/// so, and an export names it as it was called.
#[test]
fn an_https_dependency_keeps_its_scheme_through_import_and_export() {
    let har = serde_json::json!({"log": {"entries": [
        {"startedDateTime": "2026-01-02T10:00:00Z", "time": 5,
         "request": {"method": "GET", "url": "http://127.0.0.1:8080/books", "headers": []},
         "response": {"status": 200, "headers": [], "content": {"text": "[]"}}},
        {"startedDateTime": "2026-01-02T10:00:00.001Z", "time": 2,
         "request": {"method": "GET", "url": "https://api.example.com/price?isbn=1", "headers": []},
         "response": {"status": 200, "headers": [], "content": {"text": "{}"}}},
    ]}});
    let read_in = read(har.to_string().as_bytes(), Some("127.0.0.1:8080")).unwrap();
    let dep = &read_in.dependencies[0];
    assert_eq!(dep.origin(), "https://api.example.com");
    assert_eq!(
        dep.mock_address(),
        "127.0.0.1:0",
        "reel cannot listen on a remote host's address"
    );
    let setup = read_in.setup("har", std::path::Path::new("x.har"));
    assert_eq!(
        setup["dependencies"][0]["target"],
        "https://api.example.com"
    );
    let session = crate::model::Session {
        id: 1,
        name: "s".into(),
        started_at: Micros(0),
        ended_at: None,
        target: read_in.app.clone(),
        notes: None,
        dropped: 0,
        setup,
    };
    let (out, _) = write(&session, &read_in.exchanges, None);
    let urls: Vec<&str> = out["log"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["request"]["url"].as_str().unwrap())
        .collect();
    assert_eq!(
        urls,
        [
            "http://127.0.0.1:8080/books",
            "https://api.example.com/price?isbn=1"
        ]
    );
}
