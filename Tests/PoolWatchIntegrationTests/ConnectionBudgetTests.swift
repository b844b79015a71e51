import Synchronization
import Testing

@testable import PoolWatchCollection

/// The counting semaphore behind `connection_budget` (ConnectionBudget.swift), without a server.
@Suite struct ConnectionBudgetTests {
    let clock = ContinuousClock()

    @Test func aFullBudgetMakesTheNextWaitAndGiveUpHoldingNothing() async {
        let budget = ConnectionBudget(limit: 1)
        #expect(await budget.acquire(within: .seconds(1), on: clock))
        let started = clock.now
        #expect(await budget.acquire(within: .milliseconds(150), on: clock) == false)
        #expect(clock.now - started >= .milliseconds(150))
        #expect(budget.open == 1, "the waiter that gave up took nothing")
        budget.release()
        #expect(budget.open == 0)
        #expect(await budget.acquire(within: .milliseconds(10), on: clock))
        #expect(budget.peak == 1)
    }

    @Test func aReleasedSlotGoesToTheWaiterNeverAboveTheLimit() async {
        let budget = ConnectionBudget(limit: 2)
        #expect(await budget.acquire(within: .seconds(1), on: clock))
        #expect(await budget.acquire(within: .seconds(1), on: clock))
        let waiters = (0..<3).map { _ in Task { await budget.acquire(within: .seconds(5), on: clock) } }
        #expect(await eventually(5) { budget.waiting == 3 })
        #expect(budget.open == 2, "all three wait: none got a slot above the limit")
        for left in [2, 1, 0] {
            budget.release()
            #expect(await eventually(5) { budget.waiting == left && budget.open == 2 }, "the slot went to a waiter")
        }
        budget.release()
        budget.release()
        var granted = 0
        for waiter in waiters where await waiter.value { granted += 1 }
        #expect(granted == 3)
        #expect(budget.open == 0)
        #expect(budget.peak == 2)
    }

    @Test func aCancelledWaiterLeavesTheQueue() async {
        let budget = ConnectionBudget(limit: 1)
        #expect(await budget.acquire(within: .seconds(1), on: clock))
        let waiter = Task { await budget.acquire(within: .seconds(30), on: clock) }
        #expect(await eventually(5) { budget.waiting == 1 })
        waiter.cancel()
        #expect(await waiter.value == false)
        budget.release()
        #expect(budget.open == 0, "the slot went back to the budget, not to the cancelled waiter")
    }
}
