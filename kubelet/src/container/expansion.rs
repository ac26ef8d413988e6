//! `$(VAR)` expansion for env values, command, args and subPathExpr.
//!
//! Mirrors upstream's `third_party/forked/golang/expansion`: `$$` escapes to a literal `$`,
//! `$(NAME)` is replaced when `NAME` resolves and kept verbatim (`$(NAME)`) when it does
//! not, an unterminated `$(` is kept as is, and `$` followed by any other character is kept
//! with that character.

use std::collections::HashMap;

/// Expands `input`, resolving each `$(name)` through `mapping`.
pub fn expand(input: &str, mut mapping: impl FnMut(&str) -> String) -> String {
    let bytes = input.as_bytes();
    let mut out = String::with_capacity(input.len());
    let mut checkpoint = 0;
    let mut cursor = 0;
    while cursor < bytes.len() {
        if bytes[cursor] == b'$' && cursor + 1 < bytes.len() {
            out.push_str(&input[checkpoint..cursor]);
            let rest = &input[cursor + 1..];
            let (read, is_var, advance) = read_variable_name(rest);
            if is_var {
                out.push_str(&mapping(&read));
            } else {
                out.push_str(&read);
            }
            cursor += advance;
            checkpoint = cursor + 1;
        }
        cursor += 1;
    }
    if checkpoint < input.len() {
        out.push_str(&input[checkpoint..]);
    }
    out
}

/// Returns (text, is_variable, bytes consumed after the `$`). For a non-variable the text
/// is what the output receives.
fn read_variable_name(input: &str) -> (String, bool, usize) {
    let first = input.chars().next().expect("caller checks non-empty");
    match first {
        '$' => ("$".to_string(), false, 1),
        '(' => match input[1..].find(')') {
            Some(end) => (input[1..1 + end].to_string(), true, end + 2),
            // An incomplete reference: "$(" stays in the output.
            None => ("$(".to_string(), false, 1),
        },
        // Not an expression: the `$` and the character after it pass through.
        other => (format!("${other}"), false, other.len_utf8()),
    }
}

/// The mapping upstream's `MappingFuncFor` builds: look `name` up in each context in turn
/// and keep `$(name)` verbatim when none has it.
pub fn mapping_for<'a>(
    contexts: &'a [&'a HashMap<String, String>],
) -> impl FnMut(&str) -> String + 'a {
    move |name: &str| {
        for ctx in contexts {
            if let Some(v) = ctx.get(name) {
                return v.clone();
            }
        }
        format!("$({name})")
    }
}

/// Expands with the given contexts (upstream `Expand(input, MappingFuncFor(ctx...))`).
pub fn expand_with(input: &str, contexts: &[&HashMap<String, String>]) -> String {
    expand(input, mapping_for(contexts))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> HashMap<String, String> {
        [
            ("VAR_A", "A"),
            ("VAR_B", "B"),
            ("VAR_C", "C"),
            ("VAR_REF", "$(VAR_A)"),
            ("VAR_EMPTY", ""),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    /// The cases of upstream's expansion_test.go TestMapReference/TestMapping.
    #[test]
    fn expansion_cases() {
        let c = ctx();
        let cases: &[(&str, &str)] = &[
            ("$(VAR_A)", "A"),
            ("___$(VAR_B)___", "___B___"),
            ("$(VAR_A)-$(VAR_A)", "A-A"),
            ("f000-$$VAR_A", "f000-$VAR_A"),
            ("foo\\$(VAR_C)bar", "foo\\Cbar"),
            ("foo\\\\$(VAR_C)bar", "foo\\\\Cbar"),
            ("foo\\\\\\\\$(VAR_A)bar", "foo\\\\\\\\Abar"),
            ("$(VAR_A)$(VAR_B)$(VAR_C)", "ABC"),
            ("$(VAR_A)_$(VAR_B)_$(VAR_C)", "A_B_C"),
            ("$$(VAR_B)_$(VAR_A)", "$(VAR_B)_A"),
            ("$$(VAR_A)$(VAR_A)", "$(VAR_A)A"),
            ("$$$(VAR_A)", "$A"),
            ("$$$$(VAR_A)", "$$(VAR_A)"),
            ("$$$$$$$(VAR_A)", "$$$A"),
            ("$(VAR_DNE)", "$(VAR_DNE)"),
            ("$(VAR_REF)", "$(VAR_A)"),
            ("$(VAR_EMPTY)", ""),
            ("foo$(VAR_EMPTY)bar", "foobar"),
            ("$VAR_A", "$VAR_A"),
            ("$$", "$"),
            ("$", "$"),
            ("$$$$", "$$"),
            ("$(", "$("),
            ("$(VAR_A", "$(VAR_A"),
            ("$(VAR_A)$", "A$"),
            ("$()", "$()"),
            ("$(#)", "$(#)"),
            ("$(VAR_A)bar$", "Abar$"),
            ("$(VAR_A$(VAR_B))", "$(VAR_A$(VAR_B))"),
            ("f00__(VAR_A)__", "f00__(VAR_A)__"),
            ("", ""),
            ("$(VAR_A)", "A"),
            ("$?_boo_$!", "$?_boo_$!"),
            ("$VAR_A)", "$VAR_A)"),
            ("ü$(VAR_A)ü", "üAü"),
            ("$ü", "$ü"),
        ];
        for (input, want) in cases {
            assert_eq!(&expand_with(input, &[&c]), want, "input {input:?}");
        }
    }

    #[test]
    fn contexts_are_searched_in_order() {
        let a: HashMap<_, _> = [("X".to_string(), "1".to_string())].into();
        let b: HashMap<_, _> = [
            ("X".to_string(), "2".to_string()),
            ("Y".to_string(), "3".to_string()),
        ]
        .into();
        assert_eq!(expand_with("$(X)$(Y)", &[&a, &b]), "13");
    }
}
