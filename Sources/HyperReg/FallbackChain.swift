// A fall-back chain: step sources tried in order within one iteration, each candidate handed
// to the globalisation before the next source is asked (exact, then Gauss-Newton, then damping;
// or the sketch, the sketch without its rank-2 part, then damping). The chain is data: the
// message when every model fails names them from the same list.

/// Step sources tried in order; a source refused (or whose step the globalisation refused)
/// gives way to the next.
final class FallbackChain: StepSource {
    let members: [any StepSource]
    private var member = 0, memberAttempt = 0

    init(_ members: [any StepSource]) { self.members = members }

    var displayNames: [String] { members.flatMap(\.displayNames) }

    func candidate(_ attempt: Int, at state: IterateState, iteration: Int) throws(SolverError) -> StepCandidate? {
        if attempt == 0 { member = 0; memberAttempt = 0 }
        while member < members.count {
            if let c = try members[member].candidate(memberAttempt, at: state, iteration: iteration) {
                memberAttempt += 1
                return c
            }
            member += 1
            memberAttempt = 0
        }
        return nil
    }

    func accepted(_ step: AcceptedStep) {
        for m in members { m.accepted(step) }
    }
}
