//! The REST API's reference for people, at `/api/v1/reference`: one HTML
//! page, rendered on the server without JavaScript from the same OpenAPI
//! document served at `/api/v1/openapi.json`. The operations come grouped
//! by their first tag, each with its parameters, body and answers; then the
//! schemas they use. Every text taken from the document is escaped. The
//! page's looks are the `.api-ref` rules of `style/main.css`.

use std::fmt::{self, Write};

use serde_json::Value;
use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{AdditionalProperties, ArrayItems, Object, SchemaType, Type};
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{Content, OpenApi, RefOr, Required, Schema};

/// `GET /api/v1/reference`, in the theme the reader chose (their cookie).
pub async fn serve(
    stylesheet: std::sync::Arc<str>,
    headers: axum::http::HeaderMap,
) -> axum::response::Html<String> {
    use app::model::Theme;
    let theme = app::api::cookie_value(&headers, app::api::THEME_COOKIE)
        .and_then(|v| v.parse::<Theme>().ok())
        .unwrap_or_default();
    let dark = match theme {
        Theme::Dark => Some(true),
        Theme::Light => Some(false),
        Theme::System => None,
    };
    axum::response::Html(page(super::openapi::document(), &stylesheet, dark))
}

/// The API reference as one HTML page (no JavaScript), rendered from `spec`.
/// `stylesheet` is the site's CSS route; `dark` is `Some(true)` or
/// `Some(false)` for a chosen theme, `None` to follow the system.
pub fn page(spec: &OpenApi, stylesheet: &str, dark: Option<bool>) -> String {
    let mut out = String::with_capacity(128 * 1024);
    // Writing to a String cannot fail.
    let _ = render(&mut out, spec, stylesheet, dark);
    out
}

/// An operation: its method, its path and what the document says of it.
type Op<'a> = (&'static str, &'a str, &'a Operation);

fn render(out: &mut String, spec: &OpenApi, css: &str, dark: Option<bool>) -> fmt::Result {
    let (class, theme) = match dark {
        Some(true) => (" class=\"dark\"", "dark"),
        Some(false) => ("", "light"),
        None => ("", "system"),
    };
    let (title, css) = (esc(&spec.info.title), esc(css));
    let version = esc(&spec.info.version);
    writeln!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"{class} data-theme=\"{theme}\">\n\
         <head>\n<meta charset=\"utf-8\">\n<meta name=\"color-scheme\" content=\"light dark\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}: reference</title>\n<link rel=\"stylesheet\" href=\"{css}\">\n\
         </head>\n<body class=\"api-ref\">\n<div class=\"page\">\n<header>\n\
         <p class=\"links\"><a href=\"/\">← Back to the app</a> · \
         <a href=\"/api/v1/openapi.json\" download>Download openapi.json</a></p>\n\
         <h1>{title} <span class=\"version\">version {version}</span></h1>"
    )?;
    paragraphs(out, spec.info.description.as_deref())?;
    out.push_str(
        "<p class=\"auth\">Authentication: <code>Authorization: Bearer &lt;token&gt;</code>, \
         with a session token from <code>POST /api/v1/auth/login</code> or an API key.</p>\n\
         </header>\n<nav class=\"toc\" aria-label=\"Contents\">\n<h2>Contents</h2>\n",
    );

    // Operations by their first tag, in the document's order of tags.
    let tags = spec.tags.as_deref().unwrap_or_default();
    let mut groups: Vec<(&str, Vec<Op>)> = tags.iter().map(|t| (&*t.name, vec![])).collect();
    let mut ids = Vec::new();
    for (path, item) in &spec.paths.paths {
        let methods = [
            ("GET", &item.get),
            ("POST", &item.post),
            ("PUT", &item.put),
            ("PATCH", &item.patch),
            ("DELETE", &item.delete),
        ];
        for (method, op) in methods {
            let Some(op) = op else { continue };
            let entry: Op = (method, path, op);
            ids.extend(op.operation_id.as_deref());
            let tag = match op.tags.as_deref() {
                Some([first, ..]) => first.as_str(),
                _ => "other",
            };
            match groups.iter().position(|(name, _)| *name == tag) {
                Some(i) => groups[i].1.push(entry),
                None => groups.push((tag, vec![entry])),
            }
        }
    }
    groups.retain(|(_, list)| !list.is_empty());
    groups.sort_by_key(|(name, _)| *name == "other");

    // The contents go to `out`, the sections to `main`, in one pass.
    let mut main = String::new();
    for (tag, list) in &groups {
        let (anchor, name) = (slug(tag), esc(tag));
        writeln!(out, "<h3><a href=\"#tag-{anchor}\">{name}</a></h3>\n<ul>")?;
        writeln!(main, "<section id=\"tag-{anchor}\">\n<h2>{name}</h2>")?;
        let about = tags.iter().find(|t| t.name == *tag);
        paragraphs(&mut main, about.and_then(|t| t.description.as_deref()))?;
        for op in list {
            let (id, line) = (anchor_of(op, &ids), op_line(op));
            let summary = op.2.summary.as_deref().map(esc);
            let summary = summary.map(|s| format!(" — {s}")).unwrap_or_default();
            writeln!(out, "<li><a href=\"#{id}\">{line}{summary}</a></li>")?;
            operation(&mut main, op.2, &id, &line)?;
        }
        out.push_str("</ul>\n");
        main.push_str("</section>\n");
    }
    out.push_str("<h3><a href=\"#schemas\">Schemas</a></h3>\n</nav>\n<main>\n");
    out.push_str(&main);

    out.push_str("<section id=\"schemas\">\n<h2>Schemas</h2>\n");
    for (name, schema) in spec.components.iter().flat_map(|c| &c.schemas) {
        let name = esc(name);
        writeln!(out, "<section class=\"schema\" id=\"schema-{name}\">")?;
        writeln!(out, "<h3><code>{name}</code></h3>")?;
        schema_detail(out, schema)?;
        out.push_str("</section>\n");
    }
    out.push_str("</section>\n</main>\n</div>\n</body>\n</html>\n");
    Ok(())
}

/// `op-` and the operation id if no other operation has it (utoipa names
/// them after the handlers: many are `list`), else the method and path.
fn anchor_of((method, path, op): &Op, ids: &[&str]) -> String {
    match op.operation_id.as_deref() {
        Some(id) if ids.iter().filter(|i| **i == id).count() == 1 => format!("op-{}", slug(id)),
        _ => format!("op-{}", slug(&format!("{method} {path}"))),
    }
}

/// The method's badge and the path.
fn op_line((method, path, _): &Op) -> String {
    let (class, path) = (method.to_ascii_lowercase(), esc(path));
    format!("<span class=\"method {class}\">{method}</span> <code class=\"path\">{path}</code>")
}

fn operation(out: &mut String, o: &Operation, id: &str, line: &str) -> fmt::Result {
    let heading = o.summary.as_deref().or(o.operation_id.as_deref());
    let heading = esc(heading.unwrap_or(""));
    writeln!(out, "<section class=\"op\" id=\"{id}\">\n<p>{line}</p>")?;
    writeln!(out, "<h3>{heading}</h3>")?;
    let none = [SecurityRequirement::default()];
    if o.security.as_deref() == Some(&none[..]) {
        out.push_str("<p class=\"note\">No authentication</p>\n");
    }
    paragraphs(out, o.description.as_deref())?;

    let params: Vec<_> = o.parameters.iter().flatten().filter_map(own).collect();
    if !params.is_empty() {
        let rows = params.iter().map(|p| {
            let (name, place) = (code(&p.name), esc(&serde_name(&p.parameter_in)));
            let (ty, req) = (label(p.schema.as_ref()), tick(p.required == Required::True));
            let about = inline(p.description.as_deref().unwrap_or(""));
            vec![name, place, ty, req.to_string(), about]
        });
        out.push_str("<h4>Parameters</h4>\n");
        table(out, "Name In Type Required Description", rows)?;
    }

    if let Some(body) = o.request_body.as_ref().and_then(own) {
        out.push_str("<h4>Request body</h4>\n");
        paragraphs(out, body.description.as_deref())?;
        for content in &body.content {
            writeln!(out, "<p>{}</p>", media(content))?;
            let schema = own(content.1).and_then(|c| c.schema.as_ref());
            if let Some(Schema::Object(obj)) = schema.and_then(own) {
                props_table(out, obj)?;
            }
        }
    }

    let responses = o.responses.responses.iter();
    let rows = responses.filter_map(|(status, response)| {
        let r = own(response)?;
        let (status, about) = (code(status), inline(&r.description));
        let body: Vec<String> = r.content.iter().map(media).collect();
        Some(vec![status, about, body.join("<br>")])
    });
    out.push_str("<h4>Responses</h4>\n");
    table(out, "Status Description Body", rows)?;
    out.push_str("</section>\n");
    Ok(())
}

/// A request's or response's media type and the schema of its body.
fn media((kind, content): (&String, &RefOr<Content>)) -> String {
    let schema = own(content).and_then(|c| c.schema.as_ref());
    format!("{} {}", code(kind), label(schema))
}

/// What a schema is: its description, then an object's properties, a union's
/// alternatives (each through this function: a tagged union's variants), or its type.
fn schema_detail(out: &mut String, schema: &RefOr<Schema>) -> fmt::Result {
    let RefOr::T(s) = schema else {
        return writeln!(out, "<p>{}</p>", type_label(schema));
    };
    paragraphs(out, description(s))?;
    let (heading, items) = match s {
        Schema::Object(o) if !o.properties.is_empty() => return props_table(out, o),
        Schema::OneOf(x) => ("One of", &x.items),
        Schema::AnyOf(x) => ("Any of", &x.items),
        Schema::AllOf(x) => ("All of", &x.items),
        _ => return writeln!(out, "<p>Type: {}</p>", type_label(schema)),
    };
    writeln!(out, "<p>{heading}:</p>\n<ul class=\"variants\">")?;
    for item in items {
        out.push_str("<li>");
        schema_detail(out, item)?;
        out.push_str("</li>\n");
    }
    out.push_str("</ul>\n");
    Ok(())
}

/// An object's properties as a table (nothing when it has none).
fn props_table(out: &mut String, o: &Object) -> fmt::Result {
    if o.properties.is_empty() {
        return Ok(());
    }
    let rows = o.properties.iter().map(|(name, prop)| {
        let about = match prop {
            RefOr::T(s) => description(s).unwrap_or(""),
            RefOr::Ref(r) => r.description.as_str(),
        };
        let req = tick(o.required.contains(name)).to_string();
        vec![code(name), type_label(prop), req, inline(about)]
    });
    table(out, "Name Type Required Description", rows)
}

/// A table of (already escaped) cells, scrolling sideways on a narrow screen.
fn table(out: &mut String, heads: &str, rows: impl Iterator<Item = Vec<String>>) -> fmt::Result {
    out.push_str("<div class=\"scroll\"><table class=\"fields\">\n<thead><tr>");
    for h in heads.split(' ') {
        write!(out, "<th>{h}</th>")?;
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            write!(out, "<td>{cell}</td>")?;
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table></div>\n");
    Ok(())
}

/// A schema's type as HTML: a link for a named schema, `T[]` for an array,
/// `string (date-time) | null`, an enum's values, a union's alternatives.
fn type_label(s: &RefOr<Schema>) -> String {
    let s = match s {
        RefOr::T(s) => s,
        RefOr::Ref(r) => return ref_label(&r.ref_location),
    };
    match s {
        Schema::Array(a) => {
            let item = match &a.items {
                ArrayItems::RefOrSchema(i) => type_label(i),
                ArrayItems::False => "any".to_string(),
            };
            let several = item.contains(" | ") || item.contains(" &amp; ");
            let item = if several { format!("({item})") } else { item };
            match &a.schema_type {
                SchemaType::Array(ts) if ts.contains(&Type::Null) => format!("{item}[] | null"),
                _ => format!("{item}[]"),
            }
        }
        Schema::Object(o) => object_label(o),
        Schema::OneOf(x) => union(x.items.iter().map(type_label), " | "),
        Schema::AnyOf(x) => union(x.items.iter().map(type_label), " | "),
        Schema::AllOf(x) => union(x.items.iter().map(type_label), " &amp; "),
        _ => "any".to_string(),
    }
}

/// A link to a component schema (other references as they are).
fn ref_label(location: &str) -> String {
    match location.strip_prefix("#/components/schemas/") {
        Some(name) => format!("<a href=\"#schema-{}\">{}</a>", esc(name), code(name)),
        None => code(location),
    }
}

/// The labels joined, `null` last; `any` for none.
fn union(labels: impl Iterator<Item = String>, sep: &str) -> String {
    let mut labels: Vec<String> = labels.collect();
    labels.sort_by_key(|l| l == "null");
    if labels.is_empty() {
        return "any".to_string();
    }
    labels.join(sep)
}

/// An object schema's type: its values for an enum, else each of its
/// types: `object`, a map, `null`, or a primitive with its format.
fn object_label(o: &Object) -> String {
    if let Some(values) = o.enum_values.as_ref().filter(|v| !v.is_empty()) {
        return union(values.iter().map(|v| code(&v.to_string())), " | ");
    }
    let types = match &o.schema_type {
        SchemaType::Type(t) => std::slice::from_ref(t),
        SchemaType::Array(ts) => ts.as_slice(),
        SchemaType::AnyValue => return "any".to_string(),
    };
    let format = o
        .format
        .as_ref()
        .map(|f| super::openapi::format_name(&serde_name(f)));
    let format = format
        .map(|f| format!(" ({})", esc(&f)))
        .unwrap_or_default();
    let name = |t: &Type| match (t, o.additional_properties.as_deref()) {
        (Type::Object, Some(AdditionalProperties::RefOr(v))) => {
            format!("map&lt;string, {}&gt;", type_label(v))
        }
        (Type::Object, Some(_)) => "map&lt;string, any&gt;".to_string(),
        (Type::Object, None) => "object".to_string(),
        (Type::Null, _) => "null".to_string(),
        _ => esc(&serde_name(t)) + &format,
    };
    union(types.iter().map(name), " | ")
}

fn label(s: Option<&RefOr<Schema>>) -> String {
    s.map_or_else(|| "any".to_string(), type_label)
}

fn description(s: &Schema) -> Option<&str> {
    match s {
        Schema::Object(o) => o.description.as_deref(),
        Schema::Array(a) => a.description.as_deref(),
        Schema::OneOf(x) => x.description.as_deref(),
        Schema::AllOf(x) => x.description.as_deref(),
        Schema::AnyOf(x) => x.description.as_deref(),
        _ => None,
    }
}

/// The item written in place (utoipa writes parameters, bodies, responses so).
fn own<T>(item: &RefOr<T>) -> Option<&T> {
    match item {
        RefOr::T(t) => Some(t),
        RefOr::Ref(_) => None,
    }
}

/// How serde names a value that serialises to a string (`query`, `date-time`).
fn serde_name<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(Value::String(s)) => s,
        _ => String::new(),
    }
}

fn tick(required: bool) -> &'static str {
    if required {
        TICK
    } else {
        ""
    }
}

const TICK: &str = "<span class=\"req\" title=\"required\">✓</span>";

fn code(text: &str) -> String {
    format!("<code>{}</code>", esc(text))
}

/// Lower-case ASCII letters and digits, runs of anything else as one `-`.
fn slug(s: &str) -> String {
    let words = s.split(|c: char| !c.is_ascii_alphanumeric());
    let words: Vec<&str> = words.filter(|w| !w.is_empty()).collect();
    words.join("-").to_ascii_lowercase()
}

/// Text as paragraphs (split on blank lines).
fn paragraphs(out: &mut String, text: Option<&str>) -> fmt::Result {
    let text = text.unwrap_or("").replace("\r\n", "\n");
    for para in text.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
        writeln!(out, "<p>{}</p>", inline(para))?;
    }
    Ok(())
}

/// Escaped text, with what stands between backticks set as code.
fn inline(text: &str) -> String {
    let parts: Vec<&str> = text.split('`').collect();
    if parts.len().is_multiple_of(2) {
        return esc(text);
    }
    let part = |(i, p): (usize, &&str)| if i % 2 == 1 { code(p) } else { esc(p) };
    parts.iter().enumerate().map(part).collect()
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

#[cfg(test)]
mod tests {
    use utoipa::openapi::path::OperationBuilder;
    use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
    use utoipa::openapi::{ComponentsBuilder, ContentBuilder, HttpMethod, Info, OpenApi};
    use utoipa::openapi::{OpenApiBuilder, PathItem, PathsBuilder, Ref, ResponseBuilder};

    use super::page;

    fn spec() -> OpenApi {
        let body = ContentBuilder::new().schema(Some(Ref::from_schema_name("Widget")));
        let ok = ResponseBuilder::new().description("The widget");
        let op = OperationBuilder::new()
            .tag("widgets")
            .operation_id(Some("read_widget"))
            .summary(Some("Read a <script>alert(1)</script> widget"))
            .description(Some("Answers the `Widget`.\n\nSecond \"one\" & more."))
            .response("200", ok.content("application/json", body));
        let size = SchemaType::Array(vec![Type::Integer, Type::Null]);
        let widget = ObjectBuilder::new()
            .description(Some("A widget & its parts"))
            .property("name", ObjectBuilder::new().schema_type(Type::String))
            .property("size", ObjectBuilder::new().schema_type(size))
            .required("name");
        let path = PathItem::new(HttpMethod::Get, op);
        let components = ComponentsBuilder::new().schema("Widget", widget).build();
        OpenApiBuilder::new()
            .info(Info::new("Test API", "1.0.0"))
            .paths(PathsBuilder::new().path("/api/v1/widgets/{id}", path))
            .components(Some(components))
            .build()
    }

    #[test]
    fn escapes_the_text_links_anchors_and_sets_the_theme() {
        let html = page(&spec(), "/pkg/yagura.css", None);
        assert!(html.contains("Read a &lt;script&gt;alert(1)&lt;/script&gt; widget"));
        assert!(!html.contains("<script"));
        assert!(html.contains("A widget &amp; its parts"));
        assert!(html.contains("Second &quot;one&quot; &amp; more."));
        assert!(html.contains("Answers the <code>Widget</code>."));
        assert!(html.contains("<link rel=\"stylesheet\" href=\"/pkg/yagura.css\">"));
        assert!(html.contains("<section class=\"op\" id=\"op-read-widget\">"));
        assert!(html.contains("href=\"#op-read-widget\""));
        assert!(html.contains("<section id=\"tag-widgets\">"));
        assert!(html.contains("<section class=\"schema\" id=\"schema-Widget\">"));
        assert!(html.contains("href=\"#schema-Widget\""));
        assert!(html.contains("integer | null"));
        assert!(!html.contains("class=\"dark\""));
        let dark = page(&spec(), "/s.css", Some(true));
        assert!(dark.contains("<html lang=\"en\" class=\"dark\" data-theme=\"dark\">"));
        let light = page(&spec(), "/s.css", Some(false));
        assert!(light.contains("<html lang=\"en\" data-theme=\"light\">"));
        assert!(!light.contains("class=\"dark\""));
        assert!(html.contains("<html lang=\"en\" data-theme=\"system\">"));
    }
}
