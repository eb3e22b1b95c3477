//! The HTTP mock on loopback: an answer that cannot be sent is a 500 whose
//! reason the case reports, not only the app.

use std::collections::BTreeMap;

use reel_core::suite::{MockSpec, RequestSpec, ResponseSpec};

use super::*;

#[tokio::test]
async fn an_answer_that_cannot_be_sent_is_reported_with_its_reason() {
    // Checked at load, the suite's own values are valid HTTP; a secret's
    // value is only known at replay.
    let secrets = BTreeMap::from([("TOKEN".to_owned(), "a\r\nset-cookie: x=1".to_owned())]);
    let mock = MockSpec {
        id: "0001-get#1".into(),
        seq: 2,
        dependency: "pricing".into(),
        protocol: "http".into(),
        request: RequestSpec {
            method: "GET".into(),
            target: "/price".into(),
            headers: vec![],
            body: None,
        },
        response: ResponseSpec {
            status: 200,
            headers: vec![("x-token".into(), "${secret:TOKEN}".into())],
            body_encoding: None,
            body: None,
        },
    };
    let context = Arc::new(crate::context::ReplayContext::new(secrets));
    let book = Arc::new(MockBook::new(vec![vec![mock]], vec![], vec![], context));
    let server = serve("pricing", "127.0.0.1:0", book.clone()).await.unwrap();
    book.begin_case(0);
    let answer = reqwest::get(format!("http://{}/price", server.addr))
        .await
        .unwrap();
    assert_eq!(answer.status(), 500);
    let log = book.end_case();
    server.stop().await;
    assert_eq!(log.failures.len(), 1, "{log:?}");
    let failure = &log.failures[0];
    assert_eq!(
        failure,
        r#"dependency 'pricing': the mock answered 500: recorded answer 0001-get#1 once its values are filled in: response header 1 ("x-token"): the value contains a CR (\r), which a header value cannot hold"#
    );
}
