//! Grouped aggregates that keep their rows: rows are appended to one flat vector tagged with
//! their group, and [`take`] lays the groups asked for out contiguously with a counting sort.
//! Appending is sequential, where a vector per group would mean hundreds of thousands of small
//! vectors growing by reallocation.

use datafusion::logical_expr::EmitTo;

/// Removes the rows of the first groups `emit_to` asks for from `flat` and returns their
/// values laid out by group, with each group's offsets (`offsets[g]..offsets[g + 1]`). The
/// other rows stay in `flat`, their groups renumbered from 0 through `renumber`; `groups`
/// becomes the number of groups left.
pub fn take<E: Copy, T: Copy + Default>(
    flat: &mut Vec<E>,
    groups: &mut usize,
    emit_to: EmitTo,
    group: impl Fn(&E) -> u32,
    value: impl Fn(&E) -> T,
    renumber: impl Fn(E, u32) -> E,
) -> (Vec<T>, Vec<usize>) {
    let n = match emit_to {
        EmitTo::All => *groups,
        EmitTo::First(n) => n.min(*groups),
    };
    let mut offsets = vec![0usize; n + 1];
    for e in flat.iter() {
        let g = group(e) as usize;
        if g < n {
            offsets[g + 1] += 1;
        }
    }
    for i in 0..n {
        offsets[i + 1] += offsets[i];
    }
    let mut values = vec![T::default(); offsets[n]];
    let mut next = offsets.clone();
    let mut rest = Vec::new();
    for &e in flat.iter() {
        let g = group(&e) as usize;
        if g < n {
            values[next[g]] = value(&e);
            next[g] += 1;
        } else {
            rest.push(renumber(e, (g - n) as u32));
        }
    }
    *flat = rest;
    *groups -= n;
    (values, offsets)
}
