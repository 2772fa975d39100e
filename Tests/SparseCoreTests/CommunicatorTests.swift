// The communicator seam: the in-process thread group (the tests' stand-in for MPI) and the
// row-block ownership rule every rank and `hyperreg partition` share.

import Testing
import SparseCore
import HyperRegTestSupport

@Suite struct CommunicatorTests {
    @Test(arguments: [1, 2, 3, 4])
    func orderedSumGivesEveryRankTheSameBitsInRankOrder(ranks: Int) {
        // Contributions chosen so that the order of addition shows in the bits:
        // (1e16 + 1) + (-1e16) is 0 in Double, (1e16 + -1e16) + 1 is 1.
        let contributions: [[Double]] = (0 ..< ranks).map { r in [r == 0 ? 1e16 : (r == 1 ? 1 : -1e16), Double(r)] }
        let results = ThreadGroup.run(ranks: ranks) { comm -> [Double] in
            var v = contributions[comm.rank]
            comm.sum(&v)
            return v
        }
        var expected = contributions[0]
        for r in 1 ..< ranks { for j in 0 ..< 2 { expected[j] += contributions[r][j] } }
        for r in 0 ..< ranks { #expect(results[r] == expected) }  // exact: same order, same bits
    }

    @Test func gatherBroadcastExchangeAndFirstError() {
        let results = ThreadGroup.run(ranks: 3) { comm -> ([[Int]], [Double], [[UInt8]], Int?, String?) in
            let gathered = comm.allGather(Array(repeating: comm.rank, count: comm.rank + 1))
            var b: [Double] = comm.rank == 2 ? [7, 8] : []
            comm.broadcast(&b, from: 2)
            let received = comm.exchange((0 ..< comm.size).map { to in [UInt8(comm.rank), UInt8(to)] })
            let error = comm.firstError(comm.rank >= 1 ? "bad line on rank \(comm.rank)" : nil)
            return (gathered, b, received, error?.rank, error?.message)
        }
        for (r, result) in results.enumerated() {
            #expect(result.0 == [[0], [1, 1], [2, 2, 2]])
            #expect(result.1 == [7, 8])
            #expect(result.2 == (0 ..< 3).map { from in [UInt8(from), UInt8(r)] })
            #expect(result.3 == 1)
            #expect(result.4 == "bad line on rank 1")
        }
        let none = ThreadGroup.run(ranks: 2) { comm in comm.firstError(nil)?.message }
        #expect(none == [nil, nil])
    }

    @Test func rowBlocksCoverTheRowsOnceAndAgreeWithTheOwnerRule() {
        for rows in [0, 1, 5, 17, 100, 1001] {
            for ranks in 1 ... 7 {
                var next = 0
                for r in 0 ..< ranks {
                    let block = RowDistribution.block(rows: rows, ranks: ranks, rank: r)
                    #expect(block.lowerBound == next)
                    #expect(block.count == rows / ranks || block.count == rows / ranks + 1)
                    for row in block { #expect(RowDistribution.owner(ofRow: row, rows: rows, ranks: ranks) == r) }
                    next = block.upperBound
                }
                #expect(next == rows)
            }
        }
    }
}
