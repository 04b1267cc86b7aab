//! A small HTML writer for the report: one self-contained page (inline CSS
//! and SVG, no script, no network), readable on a phone.

use std::fmt::Write;

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0 auto;max-width:720px;padding:12px;color:#222;line-height:1.4}
h1{font-size:1.4em;margin:.4em 0}h2{font-size:1.15em;margin:1.4em 0 .4em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;width:100%;font-size:.9em;margin:.4em 0}
td,th{border-bottom:1px solid #eee;padding:3px 6px;text-align:left;vertical-align:top}
td{overflow-wrap:anywhere}th{white-space:nowrap}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:.6em 0}figure svg{width:100%;height:auto;display:block}
figcaption{font-size:.85em;color:#555}
code,.mono{font-family:ui-monospace,Menlo,monospace;font-size:.85em;overflow-wrap:anywhere}
.legend{display:flex;flex-wrap:wrap;gap:4px 12px;font-size:.85em;list-style:none;padding:0}
.swatch{display:inline-block;width:10px;height:10px;border-radius:5px;margin-right:4px}
.warn{color:#a30}.muted{color:#777}
";

/// The page being written.
pub struct Page {
    body: String,
}

impl Page {
    /// A page with a title.
    pub fn new(title: &str) -> Self {
        let mut page = Page {
            body: String::new(),
        };
        page.raw(&format!("<h1>{}</h1>", escape(title)));
        page
    }

    /// Appends markup as it is (the caller escaped it).
    pub fn raw(&mut self, html: &str) {
        self.body.push_str(html);
        self.body.push('\n');
    }

    /// A section heading with an id.
    pub fn section(&mut self, id: &str, title: &str) {
        self.raw(&format!("<h2 id=\"{}\">{}</h2>", escape(id), escape(title)));
    }

    /// A paragraph of text.
    pub fn text(&mut self, text: &str) {
        self.raw(&format!("<p>{}</p>", escape(text)));
    }

    /// A two-column table of names and values.
    pub fn facts(&mut self, rows: &[(&str, String)]) {
        let mut html = String::from("<table>");
        for (name, value) in rows {
            let _ = write!(
                html,
                "<tr><th>{}</th><td class=\"mono\">{}</td></tr>",
                escape(name),
                escape(value)
            );
        }
        html.push_str("</table>");
        self.raw(&html);
    }

    /// A table with a header; columns whose header starts with `#` are
    /// numbers (right-aligned; the `#` is not shown).
    pub fn table(&mut self, id: &str, header: &[&str], rows: &[Vec<String>]) {
        let numeric: Vec<bool> = header.iter().map(|h| h.starts_with('#')).collect();
        let mut html = format!("<table id=\"{}\"><tr>", escape(id));
        for (h, n) in header.iter().zip(&numeric) {
            let class = if *n { " class=\"n\"" } else { "" };
            let _ = write!(
                html,
                "<th{class}>{}</th>",
                escape(h.trim_start_matches('#'))
            );
        }
        html.push_str("</tr>");
        for row in rows {
            html.push_str("<tr>");
            for (cell, n) in row
                .iter()
                .zip(numeric.iter().chain(std::iter::repeat(&false)))
            {
                let class = if *n { " class=\"n\"" } else { "" };
                let _ = write!(html, "<td{class}>{}</td>", escape(cell));
            }
            html.push_str("</tr>");
        }
        html.push_str("</table>");
        self.raw(&html);
    }

    /// A figure: an SVG drawn by `charts`, with `data-*` attributes that say
    /// what it shows (for tools and tests) and a caption.
    pub fn figure(&mut self, id: &str, data: &[(&str, String)], svg: &str, caption: &str) {
        let mut attrs = String::new();
        for (name, value) in data {
            let _ = write!(attrs, " data-{}=\"{}\"", escape(name), escape(value));
        }
        self.raw(&format!(
            "<figure id=\"{}\"{attrs}>{}<figcaption>{}</figcaption></figure>",
            escape(id),
            strip_xml_declaration(svg),
            escape(caption)
        ));
    }

    /// A legend of coloured dots.
    pub fn legend(&mut self, entries: &[(String, String)]) {
        let mut html = String::from("<ul class=\"legend\">");
        for (colour, name) in entries {
            let _ = write!(
                html,
                "<li><span class=\"swatch\" style=\"background:{}\"></span>{}</li>",
                escape(colour),
                escape(name)
            );
        }
        html.push_str("</ul>");
        self.raw(&html);
    }

    /// The whole document.
    pub fn finish(self, title: &str) -> String {
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
             <title>{}</title><style>{STYLE}</style></head><body>\n{}</body></html>\n",
            escape(title),
            self.body
        )
    }
}

/// An SVG to inline in HTML (without an `<?xml …?>` line, if any).
fn strip_xml_declaration(svg: &str) -> &str {
    match svg.trim_start().strip_prefix("<?xml") {
        Some(rest) => rest.split_once("?>").map_or(svg, |(_, s)| s.trim_start()),
        None => svg,
    }
}

/// Bytes in binary units (`1.5 GiB`).
pub fn bytes(n: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < units.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", units[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_cannot_inject_markup() {
        assert_eq!(
            escape("<script>\"a\" & 'b'</script>"),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;"
        );
        let mut page = Page::new("t");
        page.table(
            "x",
            &["path", "#n"],
            &[vec!["<img src=x>".into(), "1".into()]],
        );
        let html = page.finish("t");
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("<td class=\"n\">1</td>"), "{html}");
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 * 1024 * 1024 * 1024), "3.0 GiB");
    }
}
