//! The activation form after a refusal: what the person typed that is not secret stays, bounded
//! and escaped; the code and the password never come back.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use harness::*;

#[tokio::test]
async fn a_wrong_activation_code_keeps_the_cpr_number_and_user_id_but_never_the_secrets() {
    let h = Harness::new().await;
    let mut browser = Client::new();
    let page = h.get(&mut browser, "/activate").await;
    let answer = h
        .post(
            &mut browser,
            "/activate",
            &[
                ("csrf", &page.input("csrf")),
                ("cpr", "0107709991"),
                ("code", "WRONG-CODE-1234"),
                ("user_id", "new.user"),
                ("password", "a-secret-pass-123"),
            ],
        )
        .await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert!(
        answer.body.contains("value=\"0107709991\""),
        "{}",
        answer.body
    );
    assert!(
        answer.body.contains("value=\"new.user\""),
        "{}",
        answer.body
    );
    assert!(!answer.body.contains("WRONG-CODE-1234"));
    assert!(!answer.body.contains("a-secret-pass-123"));

    // Bounded and escaped: an over-long or marked-up value is not echoed.
    let page = h.get(&mut browser, "/activate").await;
    let long = format!("<b>{}", "x".repeat(100));
    let answer = h
        .post(
            &mut browser,
            "/activate",
            &[
                ("csrf", &page.input("csrf")),
                ("cpr", "<script>1</script>"),
                ("code", "x"),
                ("user_id", &long),
                ("password", "a-secret-pass-123"),
            ],
        )
        .await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert!(!answer.body.contains("<script>1"), "{}", answer.body);
    assert!(!answer.body.contains(&long));
}
