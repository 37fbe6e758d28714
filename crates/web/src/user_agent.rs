//! A coarse name of the browser a login came from ("Firefox on Linux"), for a person's own log:
//! enough to recognise one's own devices, never the raw `User-Agent` header (which is not
//! stored anywhere) nor a version or build that would single a device out.

use std::fmt;

/// How much of the header is inspected: real browsers' headers are well under this.
pub const MAX_INSPECTED: usize = 512;

/// A browser family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Browser {
    /// Microsoft Edge (Chromium).
    Edge,
    /// Opera.
    Opera,
    /// Samsung Internet.
    SamsungInternet,
    /// Mozilla Firefox.
    Firefox,
    /// Google Chrome or Chromium.
    Chrome,
    /// Apple Safari.
    Safari,
}

impl Browser {
    /// Every browser, in the order they are recognised: a Chromium-based browser also says
    /// `Chrome/` and `Safari/`, so the more specific tokens are tried first.
    pub const ALL: [Browser; 6] = [
        Browser::Edge,
        Browser::Opera,
        Browser::SamsungInternet,
        Browser::Firefox,
        Browser::Chrome,
        Browser::Safari,
    ];

    /// The name shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Browser::Edge => "Edge",
            Browser::Opera => "Opera",
            Browser::SamsungInternet => "Samsung Internet",
            Browser::Firefox => "Firefox",
            Browser::Chrome => "Chrome",
            Browser::Safari => "Safari",
        }
    }

    /// The tokens that name the browser (any one suffices).
    fn tokens(self) -> &'static [&'static str] {
        match self {
            Browser::Edge => &["Edg/", "EdgA/", "EdgiOS/"],
            Browser::Opera => &["OPR/", "OPiOS/", "Opera"],
            Browser::SamsungInternet => &["SamsungBrowser/"],
            Browser::Firefox => &["Firefox/", "FxiOS/"],
            Browser::Chrome => &["Chrome/", "CriOS/", "Chromium/"],
            // Safari says `Version/x Safari/y` (or `Mobile/…` on iOS), after every other test.
            Browser::Safari => &["Safari/", "Mobile/"],
        }
    }
}

/// An operating system family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Os {
    /// An iPhone (or iPod).
    Iphone,
    /// An iPad that says so (recent ones say `Macintosh`).
    Ipad,
    /// Android.
    Android,
    /// ChromeOS.
    ChromeOs,
    /// Windows.
    Windows,
    /// macOS.
    MacOs,
    /// Linux (and other X11 desktops).
    Linux,
}

impl Os {
    /// Every system, in the order they are recognised: Android says `Linux`, iOS says
    /// `like Mac OS X`, so the more specific tokens are tried first.
    pub const ALL: [Os; 7] = [
        Os::Iphone,
        Os::Ipad,
        Os::Android,
        Os::ChromeOs,
        Os::Windows,
        Os::MacOs,
        Os::Linux,
    ];

    /// The name shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Os::Iphone => "iPhone",
            Os::Ipad => "iPad",
            Os::Android => "Android",
            Os::ChromeOs => "ChromeOS",
            Os::Windows => "Windows",
            Os::MacOs => "macOS",
            Os::Linux => "Linux",
        }
    }

    fn tokens(self) -> &'static [&'static str] {
        match self {
            Os::Iphone => &["iPhone", "iPod"],
            Os::Ipad => &["iPad"],
            Os::Android => &["Android"],
            Os::ChromeOs => &["CrOS"],
            Os::Windows => &["Windows"],
            Os::MacOs => &["Macintosh", "Mac OS X"],
            Os::Linux => &["Linux", "X11"],
        }
    }
}

/// The coarse name of a browser: its family and, when recognised, its system; or `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BrowserLabel {
    /// A recognised browser.
    Known(Browser, Option<Os>),
    /// Anything else (no header, a robot, a browser not listed).
    Other,
}

impl BrowserLabel {
    /// The label of a `User-Agent` header value (of its first [`MAX_INSPECTED`] bytes).
    pub fn of(user_agent: Option<&str>) -> BrowserLabel {
        let Some(ua) = user_agent else {
            return BrowserLabel::Other;
        };
        let ua = &ua[..ua.floor_char_boundary(MAX_INSPECTED)];
        let has = |tokens: &[&str]| tokens.iter().any(|t| ua.contains(t));
        // Every browser's header starts `Mozilla/5.0`; robots and tools rarely pretend to.
        if !ua.starts_with("Mozilla/") {
            return BrowserLabel::Other;
        }
        let Some(browser) = Browser::ALL.into_iter().find(|b| has(b.tokens())) else {
            return BrowserLabel::Other;
        };
        // Safari's tokens alone are any WebKit view: only on Apple's systems is it Safari.
        let os = Os::ALL.into_iter().find(|o| has(o.tokens()));
        if browser == Browser::Safari && !matches!(os, Some(Os::Iphone | Os::Ipad | Os::MacOs)) {
            return BrowserLabel::Other;
        }
        BrowserLabel::Known(browser, os)
    }

    /// Every label there is.
    pub fn all() -> Vec<BrowserLabel> {
        let mut out = vec![BrowserLabel::Other];
        for b in Browser::ALL {
            out.push(BrowserLabel::Known(b, None));
            out.extend(Os::ALL.into_iter().map(|o| BrowserLabel::Known(b, Some(o))));
        }
        out
    }
}

impl fmt::Display for BrowserLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BrowserLabel::Known(b, Some(o)) => write!(f, "{} on {}", b.as_str(), o.as_str()),
            BrowserLabel::Known(b, None) => f.write_str(b.as_str()),
            BrowserLabel::Other => f.write_str("Other"),
        }
    }
}

/// The label of a `User-Agent` header value, as recorded ([`BrowserLabel`]).
pub fn browser_label(user_agent: Option<&str>) -> String {
    BrowserLabel::of(user_agent).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const TABLE: &[(&str, &str)] = &[
        (
            "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
            "Firefox on Linux",
        ),
        (
            "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:130.0) Gecko/20100101 Firefox/130.0",
            "Firefox on Linux",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
             Chrome/126.0.0.0 Safari/537.36",
            "Chrome on Windows",
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) \
             Chrome/126.0.6478.122 Mobile Safari/537.36",
            "Chrome on Android",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 \
             (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
            "Safari on iPhone",
        ),
        (
            "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like \
             Gecko) Version/16.6 Mobile/15E148 Safari/604.1",
            "Safari on iPad",
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like \
             Gecko) Version/17.5 Safari/605.1.15",
            "Safari on macOS",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 \
             (KHTML, like Gecko) CriOS/126.0.6478.54 Mobile/15E148 Safari/604.1",
            "Chrome on iPhone",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 \
             (KHTML, like Gecko) FxiOS/127.0 Mobile/15E148 Safari/605.1.15",
            "Firefox on iPhone",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
             Chrome/126.0.0.0 Safari/537.36 Edg/126.0.2592.81",
            "Edge on Windows",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
             Chrome/126.0.0.0 Safari/537.36 OPR/111.0.0.0",
            "Opera on Windows",
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) \
             SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36",
            "Samsung Internet on Android",
        ),
        (
            "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) \
             Chrome/126.0.0.0 Safari/537.36",
            "Chrome on ChromeOS",
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:127.0) Gecko/20100101 Firefox/127.0",
            "Firefox on macOS",
        ),
        ("Mozilla/5.0 (compatible) Firefox/128.0", "Firefox"),
        ("curl/8.5.0", "Other"),
        (
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "Other",
        ),
        // A WebKit view that is not on an Apple system is not Safari.
        (
            "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Mobile \
             Safari/537.36",
            "Other",
        ),
        ("", "Other"),
        ("Firefox/128.0 (X11; Linux)", "Other"),
    ];

    #[test]
    fn real_browsers_get_their_family_and_system() {
        for (ua, label) in TABLE {
            assert_eq!(browser_label(Some(ua)), *label, "{ua}");
        }
        assert_eq!(browser_label(None), "Other");
    }

    #[test]
    fn only_the_first_bytes_are_read() {
        let padded = format!("Mozilla/5.0 ({}) Firefox/128.0", "x".repeat(MAX_INSPECTED));
        assert_eq!(browser_label(Some(&padded)), "Other");
        let early = format!(
            "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0 {}",
            "ø".repeat(MAX_INSPECTED)
        );
        assert_eq!(browser_label(Some(&early)), "Firefox on Linux");
    }

    #[test]
    fn the_labels_are_few_distinct_and_hold_no_version() {
        let all: Vec<String> = BrowserLabel::all().iter().map(|l| l.to_string()).collect();
        let distinct: std::collections::HashSet<&String> = all.iter().collect();
        assert_eq!(distinct.len(), all.len());
        assert_eq!(all.len(), 1 + 6 * 8);
        assert!(all.iter().all(|l| !l.bytes().any(|b| b.is_ascii_digit())));
    }

    proptest! {
        /// Any header, even a hostile or huge one, gives one of the fixed labels.
        #[test]
        fn any_input_gives_a_fixed_label(
            ua in "\\PC{0,600}|Mozilla/5\\.0 \\([ -~]{0,80}\\)[ -~]{0,200}"
        ) {
            let label = browser_label(Some(&ua));
            let all: Vec<String> = BrowserLabel::all().iter().map(|l| l.to_string()).collect();
            prop_assert!(all.contains(&label), "{label}");
            prop_assert!(label.len() <= 40);
        }
    }
}
