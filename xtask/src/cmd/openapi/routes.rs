//! Is every public path of the merged document routed to its service by the
//! gateway? Checked against the gateway's own configuration files, with
//! nginx's and the Ingress's matching rules, so a new route that the
//! gateway would answer with its own 404 fails CI instead of a frontend.

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use regex::Regex;
use serde_json::Value;

use super::MERGED_PATH;

/// A value for path parameters when matching (`/api/v1/orders/{id}`).
const SAMPLE_SEGMENT: &str = "00000000-0000-0000-0000-000000000000";

/// (concrete path, owning service's package) for every path of the merged document.
fn public_paths(root: &Path) -> Result<Vec<(String, String)>> {
    let path = root.join(MERGED_PATH);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let document: Value = serde_json::from_str(&text)?;
    let parameter = Regex::new(r"\{[^}/]+\}")?;
    let mut out = Vec::new();
    for (path, item) in document["paths"].as_object().into_iter().flatten() {
        let owner = item
            .as_object()
            .into_iter()
            .flat_map(|ops| ops.values())
            .find_map(|op| op["tags"][0].as_str())
            .ok_or_else(|| anyhow!("{path} has no operation with a service tag"))?;
        out.push((
            parameter.replace_all(path, SAMPLE_SEGMENT).into_owned(),
            owner.to_owned(),
        ));
    }
    Ok(out)
}

/// One `location` of an nginx `server` block.
#[derive(Debug)]
struct Location {
    modifier: String,
    pattern: String,
    /// `http://<upstream>` of its `proxy_pass`, if any.
    upstream: Option<String>,
}

/// The server-level locations of an nginx configuration text (named
/// locations excluded).
fn nginx_locations(text: &str) -> Result<Vec<Location>> {
    let head = Regex::new(r"^\s*location\s+(?:(=|\^~|~\*|~)\s+)?(\S+)\s*\{")?;
    let proxy = Regex::new(r"proxy_pass\s+http://([A-Za-z0-9_.:-]+)")?;
    let lines: Vec<&str> = text
        .lines()
        .map(|line| line.split('#').next().unwrap_or_default())
        .collect();
    let mut locations = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(captures) = head.captures(lines[i]) else {
            i += 1;
            continue;
        };
        let mut depth = 0i32;
        let mut body = String::new();
        let start = i;
        loop {
            let line = lines
                .get(i)
                .ok_or_else(|| anyhow!("unclosed location at line {}", start + 1))?;
            depth += line.matches('{').count() as i32 - line.matches('}').count() as i32;
            body.push_str(line);
            body.push('\n');
            i += 1;
            if depth <= 0 {
                break;
            }
        }
        let pattern = captures[2].to_owned();
        if pattern.starts_with('@') {
            continue;
        }
        locations.push(Location {
            modifier: captures.get(1).map_or("", |m| m.as_str()).to_owned(),
            pattern,
            upstream: proxy.captures(&body).map(|c| c[1].to_owned()),
        });
    }
    Ok(locations)
}

/// The location nginx picks for `uri`: exact, then the longest prefix if it
/// is `^~`, then the first matching regex, then the longest prefix.
fn nginx_pick<'a>(locations: &'a [Location], uri: &str) -> Result<Option<&'a Location>> {
    if let Some(exact) = locations
        .iter()
        .find(|l| l.modifier == "=" && l.pattern == uri)
    {
        return Ok(Some(exact));
    }
    let prefix = locations
        .iter()
        .filter(|l| (l.modifier.is_empty() || l.modifier == "^~") && uri.starts_with(&l.pattern))
        .max_by_key(|l| l.pattern.len());
    if let Some(p) = prefix
        && p.modifier == "^~"
    {
        return Ok(Some(p));
    }
    for location in locations.iter().filter(|l| l.modifier.starts_with('~')) {
        let pattern = if location.modifier == "~*" {
            format!("(?i){}", location.pattern)
        } else {
            location.pattern.clone()
        };
        if Regex::new(&pattern)
            .with_context(|| format!("location regex {}", location.pattern))?
            .is_match(uri)
        {
            return Ok(Some(location));
        }
    }
    Ok(prefix)
}

/// Every public path reaches its service's upstream (`user_service`, ...)
/// in deploy/nginx/gateway.conf.
pub fn check_nginx(root: &Path) -> Result<String> {
    let conf = root.join("deploy/nginx/gateway.conf");
    let text =
        std::fs::read_to_string(&conf).with_context(|| format!("reading {}", conf.display()))?;
    let locations = nginx_locations(&text)?;
    let paths = public_paths(root)?;
    let mut wrong = Vec::new();
    for (path, owner) in &paths {
        let expected = owner.replace('-', "_");
        let picked = nginx_pick(&locations, path)?;
        let upstream = picked.and_then(|l| l.upstream.as_deref());
        if upstream != Some(expected.as_str()) {
            wrong.push(format!(
                "{path}: expected proxy_pass http://{expected}, the gateway picks {}",
                picked.map_or("no location".to_owned(), |l| format!(
                    "location {} {} ({})",
                    l.modifier,
                    l.pattern,
                    l.upstream
                        .as_deref()
                        .map_or("answers itself".to_owned(), |u| format!("http://{u}"))
                ))
            ));
        }
    }
    if !wrong.is_empty() {
        bail!("{}", wrong.join("\n"));
    }
    Ok(format!("{} paths", paths.len()))
}

/// One rule path of the Ingress.
#[derive(Debug)]
struct IngressPath {
    path: String,
    exact: bool,
    service: String,
}

/// The rule paths of an Ingress manifest (the simple layout of
/// deploy/k8s/base/ingress.yaml: `- path:`, `pathType:`, `service: name:`).
fn ingress_paths(text: &str) -> Vec<IngressPath> {
    let mut out: Vec<IngressPath> = Vec::new();
    let mut in_service = false;
    for line in text.lines() {
        let line = line.trim();
        if let Some(path) = line.strip_prefix("- path:") {
            out.push(IngressPath {
                path: path.trim().trim_matches('"').to_owned(),
                exact: false,
                service: String::new(),
            });
            in_service = false;
        } else if let (Some(kind), Some(last)) = (line.strip_prefix("pathType:"), out.last_mut()) {
            last.exact = kind.trim() == "Exact";
        } else if line == "service:" {
            in_service = true;
        } else if let (true, Some(name), Some(last)) =
            (in_service, line.strip_prefix("name:"), out.last_mut())
        {
            if last.service.is_empty() {
                last.service = name.trim().trim_matches('"').to_owned();
            }
            in_service = false;
        }
    }
    out
}

/// The Ingress rule that wins for `uri`: the longest matching path, Exact
/// before Prefix; Prefix matches whole path elements.
fn ingress_pick<'a>(paths: &'a [IngressPath], uri: &str) -> Option<&'a IngressPath> {
    paths
        .iter()
        .filter(|p| {
            if p.exact {
                p.path == uri
            } else {
                let prefix = p.path.trim_end_matches('/');
                prefix.is_empty() || uri == prefix || uri.starts_with(&format!("{prefix}/"))
            }
        })
        .max_by_key(|p| (p.path.len(), p.exact))
}

/// Every public path reaches its service in deploy/k8s/base/ingress.yaml.
pub fn check_ingress(root: &Path) -> Result<String> {
    let file = root.join("deploy/k8s/base/ingress.yaml");
    let text =
        std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    let rules = ingress_paths(&text);
    let paths = public_paths(root)?;
    let mut wrong = Vec::new();
    for (path, owner) in &paths {
        let picked = ingress_pick(&rules, path);
        if picked.map(|p| p.service.as_str()) != Some(owner.as_str()) {
            wrong.push(format!(
                "{path}: expected service {owner}, the Ingress routes it to {}",
                picked.map_or("nothing (default backend: 404)".to_owned(), |p| format!(
                    "{} (path {})",
                    p.service, p.path
                ))
            ));
        }
    }
    if !wrong.is_empty() {
        bail!("{}", wrong.join("\n"));
    }
    Ok(format!("{} paths", paths.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GATEWAY: &str = r#"
server {
    location ~ ^/api/v1/(auth|users)(/|$) {
        proxy_pass http://user_service;
    }
    location ^~ /.well-known/ {
        proxy_pass http://user_service;
    }
    location = /api/v1/openapi.json {
        proxy_pass http://api_docs;
    }
    location ~ ^/api/v1/(products|categories)(/|$) {
        proxy_pass http://catalog_service;
    }
    location ^~ /internal/ {
        return 404 '{"title":"Not Found"}';
    }
    location / {
        return 404 '{}';
    }
    location @bad_gateway {
        return 502 '{}';
    }
}
"#;

    #[test]
    fn nginx_matching_follows_nginx_rules() {
        let locations = nginx_locations(GATEWAY).expect("parses");
        assert_eq!(locations.len(), 6, "{locations:?}");
        let upstream = |uri: &str| {
            nginx_pick(&locations, uri)
                .expect("regexes compile")
                .and_then(|l| l.upstream.clone())
        };
        assert_eq!(
            upstream("/api/v1/auth/login").as_deref(),
            Some("user_service")
        );
        assert_eq!(upstream("/api/v1/users").as_deref(), Some("user_service"));
        assert_eq!(
            upstream("/.well-known/jwks.json").as_deref(),
            Some("user_service")
        );
        assert_eq!(
            upstream("/api/v1/products/x").as_deref(),
            Some("catalog_service")
        );
        assert_eq!(
            upstream("/api/v1/openapi.json").as_deref(),
            Some("api_docs")
        );
        assert_eq!(upstream("/api/v1/productsx"), None, "falls to `location /`");
        assert_eq!(upstream("/internal/v1/users/1"), None);
    }

    #[test]
    fn ingress_matching_takes_the_longest_whole_element_prefix() {
        let rules = ingress_paths(
            "
          - path: /api/v1/orders
            pathType: Prefix
            backend:
              service:
                name: order-service
                port:
                  name: http
          - path: /api/v1/openapi.json
            pathType: Exact
            backend:
              service:
                name: api-docs
                port:
                  name: http
",
        );
        assert_eq!(rules.len(), 2);
        let service = |uri: &str| ingress_pick(&rules, uri).map(|r| r.service.as_str());
        assert_eq!(service("/api/v1/orders"), Some("order-service"));
        assert_eq!(service("/api/v1/orders/1/cancel"), Some("order-service"));
        assert_eq!(service("/api/v1/ordersx"), None);
        assert_eq!(service("/api/v1/openapi.json"), Some("api-docs"));
        assert_eq!(service("/api/v1/openapi.jsonx"), None);
    }
}
