//! The forms of the real pages, read the way a browser submits them: a login driven over plain
//! HTTP (the benchmark, the fault suite) finds a form by its action and posts its hidden inputs.

/// The hidden inputs of the `<form action="ACTION">` on the page (the first one that also
/// contains `must_contain`, when given).
pub fn form_fields(
    html: &str,
    action: &str,
    must_contain: Option<&str>,
) -> Option<Vec<(String, String)>> {
    let needle = format!("action=\"{action}\"");
    let mut rest = html;
    while let Some(start) = rest.find("<form") {
        let after = &rest[start..];
        let end = after.find("</form>").map_or(after.len(), |e| e + 7);
        let form = &after[..end];
        rest = &after[end..];
        if !form.contains(&needle) || must_contain.is_some_and(|m| !form.contains(m)) {
            continue;
        }
        let mut fields = Vec::new();
        for input in form.split("<input").skip(1) {
            let tag = input.split('>').next().unwrap_or("");
            if !tag.contains("type=\"hidden\"") {
                continue;
            }
            if let (Some(name), Some(value)) = (attr(tag, "name"), attr(tag, "value")) {
                fields.push((name, unescape(&value)));
            }
        }
        return Some(fields);
    }
    None
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let needle = format!(" {name}=\"");
    let start = tag.find(&needle)? + needle.len();
    let len = tag[start..].find('"')?;
    Some(tag[start..start + len].to_owned())
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r#"<main><form method="post" action="/login/code"><input type="hidden" name="tx" value="wrong"></form>
<form method="post" action="/login/password"><input type="hidden" name="tx" value="t&amp;1">
<input type="hidden" name="csrf" value="c&quot;2"><input type="password" name="password"></form></main>"#;

    #[test]
    fn the_hidden_inputs_of_the_named_form_are_read_and_unescaped() {
        let fields = form_fields(PAGE, "/login/password", None).unwrap_or_default();
        assert_eq!(
            fields,
            vec![
                ("tx".to_owned(), "t&1".to_owned()),
                ("csrf".to_owned(), "c\"2".to_owned())
            ]
        );
    }

    #[test]
    fn a_page_without_the_form_or_the_marker_gives_none() {
        assert!(form_fields(PAGE, "/login/user", None).is_none());
        assert!(form_fields(PAGE, "/login/password", Some("value=\"mitid\"")).is_none());
        assert!(form_fields("<form action=\"/login/user\"", "/login/user", None).is_some());
    }
}
