//! Counts as people read them: thousands separated, singular for one.

/// `1 execution`, `1,234 executions`.
pub fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{} {many}", fmt_count(n))
    }
}

/// `12345` → `12,345`.
pub fn fmt_count(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_read_well() {
        assert_eq!(fmt_count(1234567), "1,234,567");
        assert_eq!(fmt_count(999), "999");
        assert_eq!(plural(1, "execution", "executions"), "1 execution");
        assert_eq!(plural(1200, "execution", "executions"), "1,200 executions");
        assert_eq!(plural(0, "issue", "issues"), "0 issues");
    }
}
