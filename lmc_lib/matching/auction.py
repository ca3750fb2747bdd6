"""Forward auction algorithm (Bertsekas) for the linear assignment problem, in plain torch for GPUs.

Rows are bidders, columns are objects with prices. Every unassigned row bids at once (Jacobi
bidding) for its best object j1, raising its price by (best - second best value) + eps, where the
value of j is sim[i, j] - price[j]; each object goes to its highest bidder (ties: lowest row) and its
previous owner becomes unassigned. A phase ends when every row holds an object; eps-scaling runs
phases with eps shrinking by EPS_FACTOR from span / EPS_START_DIVISOR to eps_final, keeping the
prices and releasing, between phases, the rows whose object is no longer eps-best. The result is within n * eps_final of the
optimum (eps-complementary slackness), so it is optimal whenever no other assignment comes within
n * eps_final of the best: always for integer matrices with n * eps_final < 1.

Why it suits a GPU: a round is a handful of whole-slice tensor ops (gather the unassigned rows,
subtract prices, topk(2), two scatter_reduce) on the rows still bidding, a set that only shrinks.
The number of unassigned rows is read on the host (one sync) every round while the slice is large
and every SYNC_EVERY rounds once it is small; in between, rounds bid with a padded slice of that
last known size, which stays an upper bound because an object once owned stays owned.

Numbers are float64 (the H100 has fast fp64): eps_final reaches span * 1e-9 / n, below float32's
resolution of the values. Values are shifted to [0, span] (per gathered slice, no copy of the
matrix) and prices rebased to a minimum of 0 each phase, so prices stay within about 2 * span and
eps_final stays hundreds of float64 ulps above their rounding for n up to about 10^4.
"""
from __future__ import annotations

import torch

from lmc_lib.matching.matrix import AssignmentError, check_matrix

EPS_START_DIVISOR = 64.0  # first phase: eps = span / 64 (fewer rounds on random matrices than span / 4)
EPS_FACTOR = 8.0  # eps shrinks by this factor per phase
RELATIVE_EPS = 1e-9  # default eps_final = span * RELATIVE_EPS / n: the n * eps bound is span * 1e-9
MAX_ROUNDS = 200_000  # bidding rounds over all phases before giving up
DENSE_SLICE = 1 << 20  # slices of at least this many entries count their bidders every round
SYNC_EVERY = 8  # smaller slices count them every this many rounds


def eps_schedule(span: float, eps_final: float) -> list:
    """The phases' eps, shrinking by EPS_FACTOR from span / EPS_START_DIVISOR, ending at eps_final."""
    eps, out = span / EPS_START_DIVISOR, []
    while eps > eps_final:
        out.append(eps)
        eps /= EPS_FACTOR
    return out + [eps_final]


class _Auction:
    """Prices and one phase's assignment; `phase` runs bidding rounds until every row is assigned."""

    def __init__(self, sim: torch.Tensor, maximize: bool, max_rounds: int):
        self.sim, self.maximize, self.max_rounds, self.rounds = sim, maximize, max_rounds, 0
        n, dev = sim.shape[0], sim.device
        lo, hi = (float(v) for v in torch.aminmax(sim.detach()))
        self.shift, self.span = (lo if maximize else hi), hi - lo
        self.price = torch.zeros(n, dtype=torch.float64, device=dev)
        self.ids = torch.arange(n, device=dev)
        # owner[j]: row holding object j or -1; held[i]: object of row i or -1, slot n a sink for no-ops
        self.owner = torch.full((n,), -1, dtype=torch.long, device=dev)
        self.held = torch.full((n + 1,), -1, dtype=torch.long, device=dev)

    def values(self, rows: torch.Tensor) -> torch.Tensor:
        """value[r, j] = sim'[rows[r], j] - price[j], sim' shifted into [0, span] (negated to minimise)."""
        vals = self.sim.index_select(0, rows).to(torch.float64).sub_(self.shift)
        if not self.maximize:
            vals.neg_()
        return vals.sub_(self.price)

    def bid_round(self, k: int, eps: float) -> None:
        """One Jacobi round: the (at most k) unassigned rows bid; each object takes its highest bid."""
        n, held = len(self.ids), self.held[:-1]
        # the unassigned rows, padded with copies of row 0: they bid like row 0 or (assigned) not at all
        rows = torch.nonzero_static(held < 0, size=k, fill_value=0)[:, 0]
        bidding = held.index_select(0, rows) < 0
        top, obj = self.values(rows).topk(2, dim=1)
        obj = obj[:, 0]
        bid = self.price.index_select(0, obj) + (top[:, 0] - top[:, 1] + eps)
        bid = torch.where(bidding, bid, float("-inf"))
        best = torch.full((n,), float("-inf"), dtype=torch.float64, device=bid.device)
        best.scatter_reduce_(0, obj, bid, "amax")
        wins = bidding & (bid == best.index_select(0, obj))
        winner = torch.full((n,), n, dtype=torch.long, device=bid.device)
        winner.scatter_reduce_(0, obj, torch.where(wins, rows, n), "amin")  # ties: lowest row
        sold = winner < n
        self.held.scatter_(0, torch.where(sold & (self.owner >= 0), self.owner, n), -1)  # evict
        self.held.scatter_(0, torch.where(sold, winner, n), self.ids)
        self.owner = torch.where(sold, winner, self.owner)
        self.price = torch.where(sold, best, self.price)

    def release(self, eps: float) -> None:
        """Unassign the rows whose object is no longer eps-best (eps-complementary slackness).

        One whole-matrix pass. It replaces the usual full reset between phases, which would redo
        most of the last phase's work: most rows still hold an object within the new eps of their best.
        """
        held = self.held[:-1]
        vals = self.values(self.ids)
        drop = vals.gather(1, held[:, None])[:, 0] < vals.max(dim=1).values - eps
        self.owner = torch.where(drop.index_select(0, self.owner), -1, self.owner)
        held.masked_fill_(drop, -1)

    def phase(self, eps: float) -> None:
        """Rebase prices to a minimum of 0, release rows (all in the first phase), bid until all hold one."""
        n = len(self.ids)
        self.price -= self.price.min()
        if self.rounds:
            self.release(eps)
        unassigned = int((self.held[:-1] < 0).sum())
        while unassigned:
            repeats = 1 if unassigned * n >= DENSE_SLICE else SYNC_EVERY
            if self.rounds + repeats > self.max_rounds:
                raise AssignmentError(f"auction did not converge in max_rounds={self.max_rounds} bidding rounds "
                             f"(eps={eps:.3g}, {unassigned} of {n} rows unassigned); raise max_rounds, "
                             "raise eps_final, or use method='scipy'")
            for _ in range(repeats):
                self.bid_round(unassigned, eps)
            self.rounds += repeats
            unassigned = int((self.held[:-1] < 0).sum())


def auction(sim: torch.Tensor, maximize: bool = True, eps_final: float | None = None,
            max_rounds: int = MAX_ROUNDS, stats: dict | None = None) -> torch.Tensor:
    """LongTensor p on sim's device with sum_i sim[i, p[i]] within n * eps_final of the maximum.

    (of the minimum with maximize=False). eps_final defaults to span * 1e-9 / n (span = max - min of
    sim), so the result is exactly optimal unless another assignment comes within span * 1e-9 of the
    optimum; for integer matrices it always is. Raises AssignmentError for a non-square or non-finite
    matrix, or after max_rounds bidding rounds (all phases together) without convergence.
    A `stats` dict receives the counts of phases and bidding rounds.
    """
    return priced(sim, maximize, eps_final, max_rounds, stats)[0]


def priced(sim: torch.Tensor, maximize: bool = True, eps_final: float | None = None,
           max_rounds: int = MAX_ROUNDS, stats: dict | None = None,
           relative_eps: float = RELATIVE_EPS) -> tuple:
    """(p, price): the auction's assignment and its objects' final prices (eps-optimal duals).

    eps_final as in `auction` (in the units of sim; default span * relative_eps / n); the prices
    are in those units too, each
    the dual of its column up to a constant: sim[i, p[i]] - price[p[i]] is within eps_final of
    row i's best value (maximize) -- what lmc_lib.matching.warmlap starts its exact finish from.
    """
    n = check_matrix(sim)
    if n <= 1:
        return (torch.zeros(n, dtype=torch.long, device=sim.device),
                torch.zeros(n, dtype=torch.float64, device=sim.device))
    state = _Auction(sim.detach(), maximize, max_rounds)
    if state.span == 0:  # constant matrix: every permutation is optimal
        return state.ids.clone(), state.price
    eps_final = state.span * relative_eps / n if eps_final is None else eps_final
    if not eps_final > 0:
        raise AssignmentError(f"auction needs eps_final > 0, got {eps_final}")
    schedule = eps_schedule(state.span, eps_final)
    for eps in schedule:
        state.phase(eps)
    if stats is not None:
        stats.update(phases=len(schedule), rounds=state.rounds)
    perm = state.held[:-1]
    if not torch.equal(torch.sort(perm).values, state.ids):
        raise RuntimeError("auction returned no permutation; use method='scipy'")
    return perm, state.price
