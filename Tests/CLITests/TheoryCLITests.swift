import Foundation
import HyperRegTestSupport
import MatrixMarket
import Testing

private func json(_ path: String) throws -> [String: Any] {
    try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
}

@Suite("hyperreg diagnose and shift", .serialized)
struct TheoryCLITests {
    @Test func diagnosePrintsThePapersNamesAndWritesTheReport() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try generateProblem(dir, function: "cosh", rows: 400, cols: 10, weight: "0.5")
        let path = { (name: String) in dir.appendingPathComponent(name).path }
        let report = path("d.json")
        let r = try hyperreg(["diagnose", path("A.mtx"), path("b.mtx"), "--weights", path("w.mtx"), "--function", "cosh",
                              "--x", path("x_true.mtx"), "--report", report])
        #expect(r.status == 0, "\(r.stderr)")
        for name in ["R0", "sigma_min(A)", "M_theory", "M_empirical", "radius 0.1 l / M_theory", "Lemma C.4", "Theorem F.1", "10^"] {
            #expect(r.stdout.contains(name), "table lacks \(name)")
        }
        let tokens = r.stdout.split(whereSeparator: { $0 == " " || $0 == "," || $0 == "\n" }).map { $0.lowercased() }
        #expect(!tokens.contains { ["inf", "-inf", "nan", "-nan", "infinity"].contains($0) })
        let j = try json(report)
        for key in ["r", "r0", "norm_a", "sigma_min_a", "l", "m_theory", "m_empirical", "radius_theory", "lemma_c4_holds",
                    "theorem_f1_holds", "l_guaranteed_c4", "conditions", "degenerate_cases", "norm_b_matrix"] {
            #expect(j[key] != nil, "report lacks \(key)")
        }
        let m = try #require(j["m_theory"] as? [String: Any])
        #expect((m["log10"] as? Double ?? 0) > 300)   // n^4 exp(20 R^2) overflows Double here
        #expect(m["value"] == nil)
        #expect(j["lemma_c4_holds"] as? Bool == false)  // w = 0.5 is far below 10 R0^4
    }

    @Test func diagnoseAboveTheDenseLimitUsesLanczosAndAgrees() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try generateProblem(dir, function: "exp", rows: 400, cols: 12)
        let path = { (name: String) in dir.appendingPathComponent(name).path }
        var reports: [[String: Any]] = []
        for limit in ["3000", "5"] {
            let r = try hyperreg(["diagnose", path("A.mtx"), path("b.mtx"), "--x", path("x_true.mtx"), "--dense-limit", limit,
                                  "--report", path("d\(limit).json")])
            #expect(r.status == 0, "\(r.stderr)")
            reports.append(try json(path("d\(limit).json")))
        }
        #expect((reports[0]["l_method"] as? String)?.hasPrefix("dense") == true)
        #expect((reports[1]["l_method"] as? String)?.hasPrefix("Lanczos") == true)
        #expect(reports[0]["l_residual_bound"] == nil && reports[1]["l_residual_bound"] != nil)
        // d = 12: Lanczos spans the space; 1e-9 of the spectral radius.
        let l0 = try #require(reports[0]["l"] as? Double), l1 = try #require(reports[1]["l"] as? Double)
        let top = try #require(reports[0]["hessian_max_eigenvalue"] as? Double)
        #expect(abs(l0 - l1) <= 1e-9 * abs(top))
    }

    @Test func diagnoseNamesTheStationaryZeroForCosh() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try generateProblem(dir, function: "cosh", rows: 300, cols: 8)
        let zero = dir.appendingPathComponent("zero.mtx").path
        try MatrixMarket.writeArray([Double](repeating: 0, count: 8), rowCount: 8, columnCount: 1, to: zero)
        let r = try hyperreg(["diagnose", dir.appendingPathComponent("A.mtx").path, dir.appendingPathComponent("b.mtx").path,
                              "--function", "cosh", "--x", zero])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("stationary_zero"))
    }

    @Test func diagnoseRejectsAWrongLengthXNamingTheFile() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try generateProblem(dir, rows: 300, cols: 8)
        let bad = dir.appendingPathComponent("x5.mtx").path
        try MatrixMarket.writeArray([Double](repeating: 0, count: 5), rowCount: 5, columnCount: 1, to: bad)
        let report = dir.appendingPathComponent("r.json").path
        let r = try hyperreg(["diagnose", dir.appendingPathComponent("A.mtx").path, dir.appendingPathComponent("b.mtx").path,
                              "--x", bad, "--report", report])
        #expect(r.status == 1)
        #expect(r.stderr.contains("x5.mtx"))
        #expect(r.stderr.contains("5 entries"))
        #expect(!FileManager.default.fileExists(atPath: report))
    }

    @Test func shiftPartOneWritesDeltaBAndTheIdentityHolds() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try generateProblem(dir, function: "exp", rows: 500, cols: 10, weight: "0.3")
        let path = { (name: String) in dir.appendingPathComponent(name).path }
        let x0 = try MatrixMarket.readVector(from: path("x_true.mtx"))
        try MatrixMarket.writeArray(x0.map { $0 * 1.001 }, rowCount: 10, columnCount: 1, to: path("x1.mtx"))
        let r = try hyperreg(["shift", path("A.mtx"), path("b.mtx"), "--weights", path("w.mtx"), "--function", "exp",
                              "--from", path("x_true.mtx"), "--to", path("x1.mtx"), "--output", path("db.mtx"), "--report", path("s.json")])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("||delta_b||") && r.stdout.contains("M_explicit") && r.stdout.contains("conditions:"))
        let deltaB = try MatrixMarket.readVector(from: path("db.mtx"))
        #expect(deltaB.count == 500)
        let j = try json(path("s.json"))
        #expect(j["part"] as? Int == 1)
        let shifted = try #require(j["shifted_fit_loss"] as? Double), original = try #require(j["original_fit_loss"] as? Double)
        // Lemma E.2's identity, through the written report (17 significant digits): 1e-12.
        #expect(abs(shifted - original) <= 1e-12 * original)
        // b sums to 1 (a probability vector), so <c(x), 1> = alpha (1 - <b, 1>) = 0 for every x
        // and delta_b sums to 0: b - delta_b stays normalised. Each entry of c = u - alpha b
        // carries rounding of order 1e-16 |u_i|; measured |sum| / sum |delta_b_i| ~ 2e-14 on
        // the bundled exp data: 1e-12.
        #expect(abs(deltaB.reduce(0, +)) <= 1e-12 * deltaB.reduce(0) { $0 + abs($1) })
        let norm = deltaB.reduce(0) { $0 + $1 * $1 }.squareRoot()
        #expect(abs(norm - (j["delta_b_norm"] as? Double ?? -1)) <= 1e-14 * norm)
    }

    @Test func shiftPartTwoAcceptsAChangedMatrix() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let other = dir.appendingPathComponent("other")
        try generateProblem(dir, function: "cosh", rows: 300, cols: 6, seed: 3)
        try generateProblem(other, function: "cosh", rows: 300, cols: 6, seed: 4)
        let path = { (name: String) in dir.appendingPathComponent(name).path }
        let r = try hyperreg(["shift", path("A.mtx"), path("b.mtx"), "--function", "cosh", "--from", path("x_true.mtx"),
                              "--matrix-to", other.appendingPathComponent("A.mtx").path, "--report", path("s.json")])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("||A_{t+1} - A_t||"))
        let j = try json(path("s.json"))
        #expect(j["part"] as? Int == 2)
        let shifted = try #require(j["shifted_fit_loss"] as? Double), original = try #require(j["original_fit_loss"] as? Double)
        #expect(abs(shifted - original) <= 1e-12 * original)
    }

    @Test func shiftUsageAndInputErrors() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try generateProblem(dir, rows: 300, cols: 8)
        let other = dir.appendingPathComponent("other")
        try generateProblem(other, rows: 300, cols: 7)
        let path = { (name: String) in dir.appendingPathComponent(name).path }
        // Neither or both of --to / --matrix-to: usage error.
        #expect(try hyperreg(["shift", path("A.mtx"), path("b.mtx"), "--from", path("x_true.mtx")]).status == 64)
        #expect(try hyperreg(["shift", path("A.mtx"), path("b.mtx"), "--from", path("x_true.mtx"), "--to", path("x_true.mtx"),
                              "--matrix-to", path("A.mtx")]).status == 64)
        // A_{t+1} of another shape: exit 1 naming it, nothing written.
        let out = path("db.mtx")
        let r = try hyperreg(["shift", path("A.mtx"), path("b.mtx"), "--from", path("x_true.mtx"),
                              "--matrix-to", other.appendingPathComponent("A.mtx").path, "--output", out])
        #expect(r.status == 1)
        #expect(r.stderr.contains("other/A.mtx"))
        #expect(!FileManager.default.fileExists(atPath: out))
    }
}
