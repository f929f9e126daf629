//! A line-based unified diff, enough for `--dry-run` to show what a target
//! would change in a configuration file.

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Same,
    Delete,
    Insert,
}

/// Beyond this many cells the middle is shown as deleted and inserted whole
/// rather than aligned: configuration edits are small, files rarely huge.
const MAX_CELLS: usize = 4_000_000;

/// The hunks (`@@` headers and ` `/`-`/`+` lines) turning `old` into `new`,
/// with `context` unchanged lines around each change. Empty if equal.
pub(super) fn unified(old: &str, new: &str, context: usize) -> Vec<String> {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let ops = align(&a, &b);
    let changed: Vec<usize> = (0..ops.len()).filter(|&i| ops[i].0 != Op::Same).collect();
    let mut out = Vec::new();
    let mut k = 0;
    while k < changed.len() {
        let first = changed[k];
        let mut last = first;
        while k + 1 < changed.len() && changed[k + 1] - last <= 2 * context + 1 {
            k += 1;
            last = changed[k];
        }
        k += 1;
        let lo = first.saturating_sub(context);
        let hi = (last + context).min(ops.len() - 1);
        let count = |range: &[(Op, &str)], skip: Op| range.iter().filter(|o| o.0 != skip).count();
        let old_start = count(&ops[..lo], Op::Insert);
        let new_start = count(&ops[..lo], Op::Delete);
        let old_len = count(&ops[lo..=hi], Op::Insert);
        let new_len = count(&ops[lo..=hi], Op::Delete);
        let start = |s: usize, len: usize| if len == 0 { s } else { s + 1 };
        out.push(format!(
            "@@ -{},{old_len} +{},{new_len} @@",
            start(old_start, old_len),
            start(new_start, new_len)
        ));
        for (op, line) in &ops[lo..=hi] {
            let sign = match op {
                Op::Same => ' ',
                Op::Delete => '-',
                Op::Insert => '+',
            };
            out.push(format!("{sign}{line}"));
        }
    }
    out
}

/// Common prefix and suffix as they are; the middle by longest common
/// subsequence.
fn align<'s>(a: &[&'s str], b: &[&'s str]) -> Vec<(Op, &'s str)> {
    let pre = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let suf = a[pre..]
        .iter()
        .rev()
        .zip(b[pre..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (ma, mb) = (&a[pre..a.len() - suf], &b[pre..b.len() - suf]);
    let mut ops: Vec<(Op, &str)> = a[..pre].iter().map(|l| (Op::Same, *l)).collect();
    let (n, m) = (ma.len(), mb.len());
    if n * m > MAX_CELLS {
        ops.extend(ma.iter().map(|l| (Op::Delete, *l)));
        ops.extend(mb.iter().map(|l| (Op::Insert, *l)));
    } else {
        // lcs[i][j]: the longest common subsequence of ma[i..] and mb[j..].
        let mut lcs = vec![0u32; (n + 1) * (m + 1)];
        let at = |i: usize, j: usize| i * (m + 1) + j;
        for i in (0..n).rev() {
            for j in (0..m).rev() {
                lcs[at(i, j)] = if ma[i] == mb[j] {
                    lcs[at(i + 1, j + 1)] + 1
                } else {
                    lcs[at(i + 1, j)].max(lcs[at(i, j + 1)])
                };
            }
        }
        let (mut i, mut j) = (0, 0);
        while i < n || j < m {
            if i < n && j < m && ma[i] == mb[j] {
                ops.push((Op::Same, ma[i]));
                i += 1;
                j += 1;
            } else if j < m && (i == n || lcs[at(i, j + 1)] > lcs[at(i + 1, j)]) {
                ops.push((Op::Insert, mb[j]));
                j += 1;
            } else {
                ops.push((Op::Delete, ma[i]));
                i += 1;
            }
        }
    }
    ops.extend(a[a.len() - suf..].iter().map(|l| (Op::Same, *l)));
    ops
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_texts_have_no_hunks() {
        assert!(unified("a\nb\n", "a\nb\n", 3).is_empty());
    }

    #[test]
    fn a_change_shows_with_its_context_and_line_numbers() {
        let old = "1\n2\n3\n4\n5\n6\n7\n8\n9\n";
        let new = "1\n2\n3\n4\nfive\n6\n7\n8\n9\n";
        assert_eq!(
            unified(old, new, 2),
            vec!["@@ -3,5 +3,5 @@", " 3", " 4", "-5", "+five", " 6", " 7"]
        );
    }

    #[test]
    fn a_new_file_is_all_insertions() {
        assert_eq!(
            unified("", "a\nb\n", 3),
            vec!["@@ -0,0 +1,2 @@", "+a", "+b"]
        );
    }

    #[test]
    fn distant_changes_make_separate_hunks() {
        let old: String = (1..=20).map(|i| format!("{i}\n")).collect();
        let new: String = (1..=20)
            .map(|i| match i {
                2 => "two\n".to_owned(),
                19 => "nineteen\n".to_owned(),
                _ => format!("{i}\n"),
            })
            .collect();
        let hunks: Vec<String> = unified(&old, &new, 1)
            .into_iter()
            .filter(|l| l.starts_with("@@"))
            .collect();
        assert_eq!(hunks, vec!["@@ -1,3 +1,3 @@", "@@ -18,3 +18,3 @@"]);
    }
}
