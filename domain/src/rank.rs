//! Ranking: weighted, personalised PageRank over a small directed graph,
//! as aider's repository map uses it (files are nodes, "file A refers to a
//! name file B defines" is an edge weighted by how often and how specific
//! the name is).
//!
//! `petgraph` has PageRank but neither edge weights nor personalisation,
//! which the repo map needs; the power iteration below is the textbook one.

/// Parameters of [`pagerank`].
#[derive(Debug, Clone, Copy)]
pub struct PageRankParams {
    /// Probability of following an edge rather than jumping (0.85 usually).
    pub damping: f64,
    /// Most iterations.
    pub max_iterations: usize,
    /// Stop when the L1 change between iterations drops below this.
    pub tolerance: f64,
}

impl Default for PageRankParams {
    fn default() -> Self {
        Self {
            damping: 0.85,
            max_iterations: 100,
            tolerance: 1e-9,
        }
    }
}

/// PageRank of `n` nodes over weighted edges `(from, to, weight)`.
///
/// Jumps (and the rank of nodes without outgoing edges) go to nodes in
/// proportion to `personalization` (uniform when `None` or all zero).
/// Edges with an out-of-range node or a non-positive weight are ignored.
/// The result sums to 1 (for `n > 0`).
pub fn pagerank(
    n: usize,
    edges: &[(u32, u32, f64)],
    personalization: Option<&[f64]>,
    params: PageRankParams,
) -> Vec<f64> {
    if n == 0 {
        return Vec::new();
    }
    let jump: Vec<f64> = match personalization {
        Some(p) if p.len() == n && p.iter().all(|x| x.is_finite() && *x >= 0.0) && p.iter().sum::<f64>() > 0.0 => {
            let total: f64 = p.iter().sum();
            p.iter().map(|x| x / total).collect()
        }
        _ => vec![1.0 / n as f64; n],
    };
    let valid: Vec<(usize, usize, f64)> = edges
        .iter()
        .filter(|(f, t, w)| (*f as usize) < n && (*t as usize) < n && w.is_finite() && *w > 0.0)
        .map(|&(f, t, w)| (f as usize, t as usize, w))
        .collect();
    let mut out_weight = vec![0.0f64; n];
    for &(f, _, w) in &valid {
        out_weight[f] += w;
    }
    let d = params.damping.clamp(0.0, 1.0);
    let mut rank = jump.clone();
    let mut next = vec![0.0f64; n];
    for _ in 0..params.max_iterations {
        let dangling: f64 = (0..n).filter(|&i| out_weight[i] == 0.0).map(|i| rank[i]).sum();
        for (i, slot) in next.iter_mut().enumerate() {
            *slot = (1.0 - d) * jump[i] + d * dangling * jump[i];
        }
        for &(f, t, w) in &valid {
            next[t] += d * rank[f] * w / out_weight[f];
        }
        let change: f64 = rank.iter().zip(&next).map(|(a, b)| (a - b).abs()).sum();
        std::mem::swap(&mut rank, &mut next);
        if change < params.tolerance {
            break;
        }
    }
    rank
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_everybody_points_at_ranks_first() {
        // 1, 2 and 3 all refer to 0; 0 refers to 1.
        let edges = [(1, 0, 1.0), (2, 0, 1.0), (3, 0, 1.0), (0, 1, 1.0)];
        let r = pagerank(4, &edges, None, PageRankParams::default());
        assert!((r.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        assert!(r[0] > r[1] && r[1] > r[2]);
        assert!((r[2] - r[3]).abs() < 1e-12);
    }

    #[test]
    fn weights_and_personalisation_shift_rank() {
        let edges = [(0, 1, 10.0), (0, 2, 1.0)];
        let r = pagerank(3, &edges, None, PageRankParams::default());
        assert!(r[1] > r[2]);
        let focus = [0.0, 0.0, 1.0];
        let p = pagerank(3, &edges, Some(&focus), PageRankParams::default());
        assert!(p[2] > p[1], "{p:?}");
    }

    #[test]
    fn bad_input_is_ignored_not_fatal() {
        assert!(pagerank(0, &[], None, PageRankParams::default()).is_empty());
        let r = pagerank(
            2,
            &[(0, 9, 1.0), (0, 1, -1.0), (0, 1, f64::NAN)],
            Some(&[0.0, 0.0]),
            PageRankParams::default(),
        );
        assert!((r[0] - 0.5).abs() < 1e-9 && (r[1] - 0.5).abs() < 1e-9);
    }
}
