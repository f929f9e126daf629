//! Who runs this instance, as every page shows it: the SOC's name, logo,
//! contact and accent colour (`--brand-*`). A customer who opens a request
//! link sees who is asking before they hand anything over.
//!
//! Everything is checked at start: a logo must be a PNG, JPEG, WebP or SVG
//! file of at most [`MAX_LOGO_BYTES`], recognised by its first bytes; the
//! accent must be `#RRGGBB` with a contrast of at least 4.5:1 against white
//! (WCAG 2.1 AA for normal text), since it colours links on white and the
//! primary buttons' white labels; the URL must be `https://`.

/// The largest logo accepted, in bytes.
pub const MAX_LOGO_BYTES: usize = 256 * 1024;

/// The lowest contrast ratio against white an accent may have.
const MIN_CONTRAST: f64 = 4.5;

/// What the instance's pages say about who runs it. Every field but the
/// name is optional.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Brand {
    /// The SOC's name, shown in every page's header and footer.
    pub name: String,
    pub logo: Option<Logo>,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// The SOC's web site, `https://`.
    pub url: Option<String>,
    pub accent: Option<Accent>,
}

impl Brand {
    /// The telephone number for a `tel:` link: its `+` and digits.
    pub fn tel(&self) -> String {
        self.phone
            .as_deref()
            .unwrap_or_default()
            .chars()
            .filter(|c| c.is_ascii_digit() || *c == '+')
            .collect()
    }
}

/// A logo file's bytes and its media type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Logo {
    pub bytes: Vec<u8>,
    /// `image/png`, `image/jpeg`, `image/webp` or `image/svg+xml`.
    pub content_type: &'static str,
}

/// An accent colour, `#rrggbb`, and a darker shade for hover.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Accent {
    rgb: [u8; 3],
}

impl Accent {
    /// `#RRGGBB` (case-insensitive), dark enough for white text.
    ///
    /// # Errors
    /// A sentence: not `#RRGGBB`, or too light, with its contrast ratio.
    pub fn parse(text: &str) -> Result<Accent, String> {
        let hex = text
            .trim()
            .strip_prefix('#')
            .filter(|h| h.len() == 6 && h.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| format!("--brand-accent {text:?} must be a colour written #RRGGBB"))?;
        let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).unwrap_or(0);
        let accent = Accent {
            rgb: [byte(0), byte(2), byte(4)],
        };
        let ratio = accent.contrast_with_white();
        if ratio < MIN_CONTRAST {
            return Err(format!(
                "--brand-accent {text} is too light: its contrast with white is {ratio:.2}:1, and links on white and white button labels on it need at least {MIN_CONTRAST}:1; choose a darker shade"
            ));
        }
        Ok(accent)
    }

    /// `#rrggbb`.
    pub fn css(self) -> String {
        let [r, g, b] = self.rgb;
        format!("#{r:02x}{g:02x}{b:02x}")
    }

    /// The hover shade: 15% darker.
    pub fn hover_css(self) -> String {
        let [r, g, b] = self
            .rgb
            .map(|c| u8::try_from(u16::from(c) * 85 / 100).unwrap_or(c));
        format!("#{r:02x}{g:02x}{b:02x}")
    }

    /// WCAG 2.1's contrast ratio against white, 1 to 21.
    fn contrast_with_white(self) -> f64 {
        let linear = |c: u8| {
            let c = f64::from(c) / 255.0;
            if c <= 0.040_45 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        let [r, g, b] = self.rgb;
        let luminance = 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
        1.05 / (luminance + 0.05)
    }
}

impl Logo {
    /// The logo in `bytes`, its type told by its first bytes.
    ///
    /// # Errors
    /// A sentence: too large, or not a PNG, JPEG, WebP or SVG image.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Logo, String> {
        if bytes.len() > MAX_LOGO_BYTES {
            return Err(format!(
                "the logo is {} bytes; at most {MAX_LOGO_BYTES} are accepted",
                bytes.len()
            ));
        }
        let content_type = if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            "image/png"
        } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
            "image/jpeg"
        } else if bytes.len() > 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
            "image/webp"
        } else if looks_like_svg(&bytes) {
            "image/svg+xml"
        } else {
            return Err("the logo must be a PNG, JPEG, WebP or SVG image".to_owned());
        };
        Ok(Logo {
            bytes,
            content_type,
        })
    }
}

/// An SVG document: text whose first element is `<svg`, after an optional
/// XML declaration, comments and a doctype.
fn looks_like_svg(bytes: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return false;
    };
    let mut rest = text.trim_start_matches('\u{feff}').trim_start();
    loop {
        if rest.starts_with("<svg") {
            return true;
        }
        let skip = if rest.starts_with("<?") {
            rest.find("?>").map(|i| i + 2)
        } else if rest.starts_with("<!--") {
            rest.find("-->").map(|i| i + 3)
        } else if rest.starts_with("<!DOCTYPE") || rest.starts_with("<!doctype") {
            rest.find('>').map(|i| i + 1)
        } else {
            None
        };
        match skip {
            Some(i) => rest = rest[i..].trim_start(),
            None => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_accent_must_be_dark_enough_for_white_text() {
        let a = Accent::parse("#0B5CAD").unwrap();
        assert_eq!(a.css(), "#0b5cad");
        assert_eq!(a.hover_css(), "#094e93");
        assert!(Accent::parse("#000000").is_ok());
        let light = Accent::parse("#ffcc00").unwrap_err();
        assert!(
            light.contains("too light") && light.contains(":1"),
            "{light}"
        );
        for bad in ["0b5cad", "#0b5cag", "#0b5", "blue", "#0b5cad0"] {
            assert!(Accent::parse(bad).unwrap_err().contains("#RRGGBB"), "{bad}");
        }
        // The boundary: #767676 on white is 4.54:1, #777777 4.48:1.
        assert!(Accent::parse("#767676").is_ok());
        assert!(Accent::parse("#777777").is_err());
    }

    #[test]
    fn a_logo_is_told_by_its_first_bytes() {
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        assert_eq!(Logo::from_bytes(png).unwrap().content_type, "image/png");
        let jpeg = vec![0xff, 0xd8, 0xff, 0xe0, 0, 0x10];
        assert_eq!(Logo::from_bytes(jpeg).unwrap().content_type, "image/jpeg");
        let webp = b"RIFF\x24\0\0\0WEBPVP8 ".to_vec();
        assert_eq!(Logo::from_bytes(webp).unwrap().content_type, "image/webp");
        let svg = b"<?xml version=\"1.0\"?>\n<!-- Contoso -->\n<svg xmlns=\"http://www.w3.org/2000/svg\"/>".to_vec();
        assert_eq!(Logo::from_bytes(svg).unwrap().content_type, "image/svg+xml");
        for bad in [
            b"<html><svg/></html>".to_vec(),
            b"GIF89a".to_vec(),
            b"not an image".to_vec(),
        ] {
            assert!(Logo::from_bytes(bad).is_err());
        }
        let big = vec![0u8; MAX_LOGO_BYTES + 1];
        assert!(Logo::from_bytes(big).unwrap_err().contains("at most"));
    }
}
