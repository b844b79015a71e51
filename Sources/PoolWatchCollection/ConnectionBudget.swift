import Synchronization

/// At most `limit` short-lived connections of one target open at once: its `connection_budget`.
///
/// A slot is taken before a visit connects and given back only once the visit's blocking work has
/// returned and its connection is closed (DatabaseVisitor.swift). A visit abandoned at its deadline
/// while blocked in a frozen server therefore keeps its slot until the server answers, so abandoning
/// never lets more than `limit` connections exist; the visits after it wait for a slot, for a bounded time.
final class ConnectionBudget: Sendable {
    let limit: Int

    private struct Waiter {
        let id: Int
        let answer: FirstValue<Bool>
    }

    private struct State {
        var open = 0
        var peak = 0
        var nextID = 0
        var waiters: [Waiter] = []
    }

    private let state = Mutex(State())

    init(limit: Int) {
        self.limit = max(1, limit)
    }

    /// Slots held now.
    var open: Int { state.withLock { $0.open } }

    /// The most slots ever held at once.
    var peak: Int { state.withLock { $0.peak } }

    /// Callers waiting for a slot now.
    var waiting: Int { state.withLock { $0.waiters.count } }

    /// Takes a slot, waiting at most `timeout` on `clock` for one to come free. False when none did in
    /// time or the calling task was cancelled; the caller then holds nothing.
    func acquire<C: Clock>(within timeout: Duration, on clock: C) async -> Bool where C.Duration == Duration {
        let answer = FirstValue<Bool>()
        let id: Int? = state.withLock { state in
            if state.open < limit, state.waiters.isEmpty {
                state.open += 1
                state.peak = max(state.peak, state.open)
                return nil
            }
            state.nextID += 1
            state.waiters.append(Waiter(id: state.nextID, answer: answer))
            return state.nextID
        }
        guard let id else { return true }
        // The timer never holds a slot: whichever of it and `release` removes the waiter decides.
        let timer = Task {
            try? await clock.sleep(for: timeout)
            self.giveUp(id)
        }
        let granted = await withTaskCancellationHandler {
            await answer.value()
        } onCancel: {
            self.giveUp(id)
        }
        timer.cancel()
        return granted
    }

    /// Gives a slot back: to the longest waiter, or to the budget.
    func release() {
        let next: Waiter? = state.withLock { state in
            guard !state.waiters.isEmpty else {
                state.open -= 1
                return nil
            }
            return state.waiters.removeFirst()
        }
        next?.answer.deliver(true)
    }

    /// Removes waiter `id` if it still waits, and tells it no.
    private func giveUp(_ id: Int) {
        let waiter: Waiter? = state.withLock { state in
            guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
            return state.waiters.remove(at: index)
        }
        waiter?.answer.deliver(false)
    }
}
