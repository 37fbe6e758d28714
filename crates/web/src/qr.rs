//! QR codes for pages, rendered on the server as inline SVG (no script, no image request): the
//! code-display enrolment today, and any page that hands a phone a link or a secret.

use qrcode::{Color, EcLevel, QrCode};
use std::fmt::Write as _;

/// Quiet zone around the code, in modules (the QR standard asks for four).
const QUIET: usize = 4;

/// Escapes text for an XML attribute.
fn attr(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// `data` as a QR code: an inline `<svg>` element with `role="img"` and `aria-label` set to
/// `name` (what a screen reader says instead of the picture), black modules on a white quiet zone,
/// scaling to its container (`width="100%"`, square). `None` when the data does not fit in a QR code.
///
/// The result is markup: insert it unescaped (askama `|safe`). `name` is escaped here; `data` only
/// becomes module positions, never text.
pub fn svg(data: &str, name: &str) -> Option<String> {
    let code = QrCode::with_error_correction_level(data.as_bytes(), EcLevel::M).ok()?;
    let width = code.width();
    let colors = code.to_colors();
    let size = width + 2 * QUIET;
    let mut path = String::new();
    for (i, color) in colors.iter().enumerate() {
        if *color == Color::Dark {
            let (x, y) = (i % width + QUIET, i / width + QUIET);
            let _ = write!(path, "M{x} {y}h1v1h-1z");
        }
    }
    Some(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"qr\" role=\"img\" aria-label=\"{name}\" \
         viewBox=\"0 0 {size} {size}\" width=\"100%\" shape-rendering=\"crispEdges\">\
         <rect width=\"{size}\" height=\"{size}\" fill=\"#fff\"/>\
         <path fill=\"#000\" d=\"{path}\"/></svg>",
        name = attr(name),
    ))
}

/// A secret for people who type it in: groups of four characters separated by spaces
/// ("JBSW Y3DP EHPK 3PXP").
pub fn grouped(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    chars
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_svg_with_an_accessible_name_and_modules() {
        let svg = svg(
            "otpauth://totp/MitID:anna?secret=JBSWY3DPEHPK3PXP",
            "QR-kode \"x\"",
        )
        .unwrap_or_default();
        assert!(svg.starts_with("<svg "), "{svg}");
        assert!(svg.contains("role=\"img\""));
        assert!(svg.contains("aria-label=\"QR-kode &quot;x&quot;\""));
        assert!(svg.ends_with("</svg>"));
        // Version 3 or more (29+ modules) with the quiet zone: a square view box.
        let view_box = svg
            .split("viewBox=\"0 0 ")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_default()
            .to_owned();
        let sides: Vec<usize> = view_box.split(' ').filter_map(|n| n.parse().ok()).collect();
        assert_eq!(sides.len(), 2);
        assert_eq!(sides[0], sides[1]);
        assert!(sides[0] >= 21 + 2 * QUIET);
        // The data never appears as text.
        assert!(!svg.contains("otpauth"));
        assert!(!svg.contains("JBSW"));
        // Finder pattern: the top-left corner module is dark.
        assert!(svg.contains(&format!("M{QUIET} {QUIET}h1v1h-1z")));
    }

    #[test]
    fn too_much_data_is_none() {
        assert!(svg(&"x".repeat(5000), "too long").is_none());
    }

    #[test]
    fn secrets_are_grouped_in_fours() {
        assert_eq!(grouped("JBSWY3DPEHPK3PXP"), "JBSW Y3DP EHPK 3PXP");
        assert_eq!(grouped("ABCDEF"), "ABCD EF");
        assert_eq!(grouped(""), "");
    }
}
