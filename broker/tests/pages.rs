//! The broker's error pages as a citizen meets them: in their language, in their words, with a
//! reference for support.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use harness::*;

fn english() -> Client {
    let mut client = Client::new();
    client.headers.push(("accept-language", "en".to_owned()));
    client
}

/// The reference line of an error page: eight readable characters.
fn reference(body: &str) -> String {
    let start = body.find("<strong>").expect("a reference") + "<strong>".len();
    let end = body[start..].find("</strong>").unwrap() + start;
    body[start..end].to_owned()
}

#[tokio::test]
async fn an_unknown_client_gets_a_page_in_the_persons_words_with_a_reference() {
    let h = Harness::new().await;
    let path = "/authorize?client_id=nobody&redirect_uri=https%3A%2F%2Fevil.example%2Fcb\
                &response_type=code&scope=openid&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM\
                &code_challenge_method=S256";
    let da = h.get(&mut Client::new(), path).await;
    assert_eq!(da.status, 400);
    assert!(
        da.location.is_none(),
        "never a redirect to an unverified URI"
    );
    assert!(da.body.contains("lang=\"da\""));
    assert!(da.body.contains("Det er ikke din fejl"), "{}", da.body);
    for raw in [
        "invalid_request",
        "unauthorized_client",
        "redirect_uri",
        "client_id",
    ] {
        assert!(!da.body.contains(raw), "raw OAuth text {raw:?} on the page");
    }
    let first = reference(&da.body);
    assert_eq!(first.len(), 8);
    assert!(
        first
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    );
    assert!(da.body.contains(" kl. "), "the local time: {}", da.body);

    let en = h.get(&mut english(), path).await;
    assert!(en.body.contains("lang=\"en\""));
    assert!(en.body.contains("It is not your fault"), "{}", en.body);
    assert_ne!(
        reference(&en.body),
        first,
        "each error page has its own reference"
    );
}

#[tokio::test]
async fn an_unknown_address_is_a_404_page_in_the_persons_language() {
    let h = Harness::new().await;
    let da = h.get(&mut Client::new(), "/no/such/page").await;
    assert_eq!(da.status, 404);
    assert!(da.body.contains("Siden findes ikke"), "{}", da.body);
    let en = h.get(&mut english(), "/no/such/page").await;
    assert_eq!(en.status, 404);
    assert!(en.body.contains("This page does not exist"), "{}", en.body);
    assert!(!en.body.contains("Siden"), "{}", en.body);
}
