//! A deliberately small WGSL preprocessor: `#include "file"`, `#ifdef NAME`, `#ifndef NAME`,
//! `#else`, `#endif`. Numbers are specialized with WGSL `override`s instead; this exists only
//! for what overrides cannot express (element types, optional `enable` directives, shared code).

/// A malformed shader source (a bug in hearth's shaders, reported with the file and line).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct PreprocessError {
    /// The shader file.
    pub file: String,
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// Expands `source` (named `file`) with `defines` set, resolving includes through `include`.
pub fn preprocess(
    file: &str,
    source: &str,
    defines: &[&str],
    include: &dyn Fn(&str) -> Option<&'static str>,
) -> Result<String, PreprocessError> {
    let mut out = String::with_capacity(source.len());
    expand(file, source, defines, include, &mut out, 0)?;
    Ok(out)
}

fn expand(
    file: &str,
    source: &str,
    defines: &[&str],
    include: &dyn Fn(&str) -> Option<&'static str>,
    out: &mut String,
    depth: usize,
) -> Result<(), PreprocessError> {
    let err = |line: usize, message: String| PreprocessError { file: file.to_owned(), line: line + 1, message };
    if depth > 8 {
        return Err(err(0, "includes nest deeper than 8 (a cycle?)".into()));
    }
    // Each entry: (this branch is active, some branch of this #if was taken).
    let mut stack: Vec<(bool, bool)> = Vec::new();
    let active = |stack: &[(bool, bool)]| stack.iter().all(|s| s.0);
    for (n, line) in source.lines().enumerate() {
        let t = line.trim();
        if let Some(name) = t.strip_prefix("#ifdef ") {
            let on = defines.contains(&name.trim());
            stack.push((on, on));
        } else if let Some(name) = t.strip_prefix("#ifndef ") {
            let on = !defines.contains(&name.trim());
            stack.push((on, on));
        } else if t == "#else" {
            let top = stack.last_mut().ok_or_else(|| err(n, "#else without #ifdef".into()))?;
            *top = (!top.1, true);
        } else if t == "#endif" {
            stack.pop().ok_or_else(|| err(n, "#endif without #ifdef".into()))?;
        } else if let Some(rest) = t.strip_prefix("#include ") {
            if active(&stack) {
                let name = rest.trim().trim_matches('"');
                let text = include(name).ok_or_else(|| err(n, format!("unknown include \"{name}\"")))?;
                expand(name, text, defines, include, out, depth + 1)?;
            }
        } else if t.starts_with('#') {
            return Err(err(n, format!("unknown directive {t}")));
        } else if active(&stack) {
            out.push_str(line);
            out.push('\n');
        }
    }
    if !stack.is_empty() {
        return Err(err(source.lines().count(), "missing #endif".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inc(name: &str) -> Option<&'static str> {
        (name == "common.wgsl")
            .then_some("fn helper() {}\n#ifdef F16\nalias act = f16;\n#else\nalias act = f32;\n#endif")
    }

    #[test]
    fn defines_select_branches_and_includes_expand() {
        let src = "#include \"common.wgsl\"\n#ifdef A\na\n#ifndef B\nnot_b\n#endif\n#else\nnot_a\n#endif\nend";
        assert_eq!(preprocess("t", src, &["A"], &inc).unwrap(), "fn helper() {}\nalias act = f32;\na\nnot_b\nend\n");
        assert_eq!(
            preprocess("t", src, &["B", "F16"], &inc).unwrap(),
            "fn helper() {}\nalias act = f16;\nnot_a\nend\n"
        );
    }

    #[test]
    fn malformed_sources_name_file_and_line() {
        let e = preprocess("t.wgsl", "x\n#endif", &[], &inc).unwrap_err();
        assert_eq!(e.to_string(), "t.wgsl:2: #endif without #ifdef");
        assert!(preprocess("t", "#ifdef A\n", &[], &inc).is_err());
        assert!(preprocess("t", "#include \"nope\"", &[], &inc).is_err());
        assert!(preprocess("t", "#define X", &[], &inc).is_err());
    }
}
