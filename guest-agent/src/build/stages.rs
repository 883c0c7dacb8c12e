//! Which stages a build needs: the target and, transitively, every
//! earlier stage it names in `FROM` or `COPY --from` (BuildKit's rule,
//! which this builder follows so `--target` skips what the target does not
//! use: moby's classic builder built every stage up to the target).
//!
//! Owns that graph walk over the parsed Dockerfile; the expansion of a
//! `FROM` word is the caller's (it needs the meta `ARG`s). It must never
//! run a step.

use super::parser::{Dockerfile, Instr};

/// `needed[i]`: stage `i` must be built for stage `target`. `from_word`
/// expands a `FROM` image word; a `--from` value that needs expanding
/// (it holds `$`) may name any earlier stage, so all of them are kept.
pub fn needed(d: &Dockerfile, target: usize, from_word: impl Fn(&str) -> String) -> Vec<bool> {
    let by_name = |word: &str, before: usize| -> Option<usize> {
        d.stages[..before]
            .iter()
            .position(|s| s.name().is_some_and(|n| n.eq_ignore_ascii_case(word)))
            .or_else(|| word.parse::<usize>().ok().filter(|i| *i < before))
    };
    let mut needed = vec![false; d.stages.len()];
    let mut todo = vec![target];
    while let Some(i) = todo.pop() {
        if std::mem::replace(&mut needed[i], true) {
            continue;
        }
        let stage = &d.stages[i];
        if let Instr::From { image, .. } = &stage.from.instr
            && let Some(j) = by_name(&from_word(image), i)
        {
            todo.push(j);
        }
        for step in &stage.steps {
            let Instr::Copy { flags, .. } = &step.instr else { continue };
            let Some(from) = flags.iter().find(|(k, _)| k == "from").and_then(|(_, v)| v.as_deref()) else {
                continue;
            };
            if from.contains('$') {
                todo.extend(0..i);
            } else if let Some(j) = by_name(from, i) {
                todo.push(j);
            }
        }
    }
    needed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn needed_for(text: &str, target: usize) -> Vec<bool> {
        let d = Dockerfile::parse(text).unwrap();
        needed(&d, target, |w| w.replace("${BASE}", "base"))
    }

    #[test]
    fn the_target_takes_what_it_names_and_nothing_else() {
        let text = "ARG BASE=x\nFROM busybox AS base\nRUN true\nFROM busybox AS unused\nRUN false\n\
                    FROM ${BASE} AS mid\nFROM busybox\nCOPY --from=mid /a /a\nCOPY --from=0 /b /b\n";
        assert_eq!(needed_for(text, 3), [true, false, true, true]);
        assert_eq!(needed_for(text, 1), [false, true, false, false]);
        assert_eq!(needed_for(text, 2), [true, false, true, false], "FROM an earlier stage by an expanded name");
        // A later stage's name never counts, nor does an image of the same name.
        let text = "FROM busybox AS a\nCOPY --from=b /x /x\nFROM busybox AS b\n";
        assert_eq!(needed_for(text, 0), [true, false]);
        // A --from that needs expanding keeps every earlier stage.
        let text = "FROM busybox AS a\nFROM busybox AS b\nFROM busybox\nARG S=a\nCOPY --from=$S /x /x\n";
        assert_eq!(needed_for(text, 2), [true, true, true]);
    }
}
