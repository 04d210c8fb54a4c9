//! The error codes of the JS front end are the library's ([`ErrorCode`]): the codes the page's
//! modules throw themselves are among them, the chat page advises on each of them, and the
//! API's documentation lists them all.
#![cfg(not(target_arch = "wasm32"))]

use std::collections::BTreeSet;

use hearth::error_code::ErrorCode;

fn www(file: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("www").join(file)).unwrap()
}

fn all() -> BTreeSet<String> {
    ErrorCode::ALL.iter().map(|c| c.as_str().to_owned()).collect()
}

/// The first string argument of every call of `function` in `source`.
fn first_arguments(source: &str, function: &str) -> Vec<String> {
    let open = format!("{function}(\"");
    source.match_indices(&open).map(|(i, _)| source[i + open.len()..].split('"').next().unwrap().to_owned()).collect()
}

#[test]
fn the_js_throws_only_the_librarys_codes() {
    let known = all();
    let mut seen = 0;
    for file in ["hearth.js", "worker.js", "sources.js", "storage.js", "app.js"] {
        let source = www(file);
        for function in ["new HearthError", "fail"] {
            for code in first_arguments(&source, function) {
                assert!(known.contains(&code), "{file}: {function}(\"{code}\"): not an ErrorCode");
                seen += 1;
            }
        }
    }
    assert!(seen >= 10, "only {seen} codes found: the scan no longer matches the JS");
}

#[test]
fn the_chat_page_advises_on_every_code() {
    let app = www("app.js");
    let start = app.find("const ADVICE = {").expect("app.js has its ADVICE table");
    let table = &app[start..start + app[start..].find("};").unwrap()];
    let keys: BTreeSet<String> = table
        .lines()
        .skip(1)
        .filter_map(|l| l.trim().split_once(':').map(|(k, _)| k.trim_matches('"').to_owned()))
        // Keys are codes; a line holding a long sentence's continuation is not a key.
        .filter(|k| !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
        .collect();
    assert_eq!(keys, all(), "ADVICE keys");
}

#[test]
fn the_api_documents_every_code() {
    let hearth = www("hearth.js");
    let start = hearth.find("/** An error with a `code`:").expect("HearthError's doc comment");
    let doc = &hearth[start..start + hearth[start..].find("*/").unwrap()];
    for code in all() {
        assert!(doc.contains(&code), "HearthError's documentation omits {code}");
    }
}
