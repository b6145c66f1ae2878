//! Spreading generation over the machine's cores.

use std::num::NonZeroUsize;
use std::thread;

/// Below this many items a single thread is faster than spawning more.
const MIN_PER_THREAD: usize = 4_096;

/// `(0..n).map(f).collect()`, computed on all available cores. The result is
/// identical to the sequential one because every item depends only on its index.
pub(crate) fn par_map<T, F>(n: usize, f: F) -> Vec<T>
where
    T: Send,
    F: Fn(usize) -> T + Sync,
{
    let threads = thread::available_parallelism()
        .map_or(1, NonZeroUsize::get)
        .min(n / MIN_PER_THREAD)
        .max(1);
    if threads == 1 {
        return (0..n).map(&f).collect();
    }
    let per_thread = n.div_ceil(threads);
    let f = &f;
    thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let range = (t * per_thread)..((t + 1) * per_thread).min(n);
                scope.spawn(move || range.map(f).collect::<Vec<T>>())
            })
            .collect();
        let mut out = Vec::with_capacity(n);
        for handle in handles {
            out.extend(handle.join().expect("generator threads do not panic"));
        }
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_results_equal_sequential_ones_in_order() {
        let n = 50_000;
        let out = par_map(n, |i| i * 3);
        assert_eq!(out, (0..n).map(|i| i * 3).collect::<Vec<_>>());
        assert!(par_map(0, |i| i).is_empty());
    }
}
