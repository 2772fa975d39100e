// Ceres peer for the benchmark of scripts/bench (compiled by scripts/bench/run.sh when Debian's
// libceres-dev is installed): ceres::GradientProblemSolver with L-BFGS on hyperreg's objective.
//
//   L(x) = 0.5 ||c||^2 + 0.5 ||w o z||^2,  z = A x, u = f(z), v = f'(z), c = u - <u,1> b
//   g    = A^T (v o (c - <b,c>) + w^2 o z)                    (docs/math.md, scipy_baseline.py)
//
// Usage: ceres_lbfgs A.mtx b.mtx --weights w.mtx --function exp|cosh|sinh --x0 x0.mtx
//        [--reference xref.mtx] [--tolerance 1e-8] [--time-cap 300] [--threads N] [--repeats R] [--tag T]
//        ceres_lbfgs ... --check   (prints L, ||g|| and g at x0 as JSON and exits; compared with
//                                   scipy_baseline.py by scripts/bench/ceres/check_against_scipy.py)
//
// Stopping rule as in scipy_baseline.py: ||g(x)||_2 <= tol ||g(x0)||_2, checked by an
// IterationCallback after every iteration (it returns SOLVER_TERMINATE_SUCCESSFULLY). Ceres' own
// function, gradient and parameter tolerances are 0, the iteration limit is effectively off, the
// minimum line-search step is 1e-300; the wall-time cap is max_solver_time_in_seconds (checked by
// Ceres between iterations) and the callback. L-BFGS memory 10 and the initial inverse Hessian
// scaled by s.y / y.y (use_approximate_eigenvalue_bfgs_scaling), as SciPy's L-BFGS-B (maxcor=10)
// does; without that scaling Ceres stopped at a relative gradient of 2.6e-4 on a 1e4 x 50 exp
// instance where it now reaches 2e-6 in 7 iterations. Line search: Wolfe (Ceres' default for L-BFGS).
//
// Products: CSR A x and a CSC copy of A for A^T y, both row/column-parallel with OpenMP
// (--threads, default 2 like hyperreg's runs in the benchmark); reductions are OpenMP reductions.
// --repeats R: when the first solve takes under 2 s, R solves from x0 on the inputs read once; the
// median is reported (seconds, iterations, final point), every time in all_seconds.
// One JSON line on stdout with the keys of scipy_baseline.py's records (solver "ceres", method
// "lbfgs"); diagnostics on stderr. Bad input: "file:line: problem" on stderr and exit 2.
#include <ceres/ceres.h>
#include <ceres/version.h>
#include <fcntl.h>
#include <omp.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace {

[[noreturn]] void fail(const std::string& msg) {
  std::fprintf(stderr, "ceres_lbfgs: %s\n", msg.c_str());
  std::exit(2);
}

// A Matrix Market file: coordinate (real/integer/pattern, general) or array (real/integer,
// general). Entries of a coordinate file are kept as triplets; an array file as a column-major
// dense vector.
struct Mtx {
  long rows = 0, cols = 0;
  bool coordinate = false;
  std::vector<long> i, j;
  std::vector<double> v;
};

// The file is mapped read-only and parsed in place with std::from_chars (bounded by the end of
// the mapping, no terminator needed): 1.8 s instead of 4.9 s with getline + strtod for a 611 MB
// file with 2e7 entries (reading plus the CSR and CSC build, measured).
Mtx read_mtx(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0) fail(path + ": cannot open: " + std::strerror(errno));
  struct stat st{};
  if (fstat(fd, &st) != 0 || st.st_size == 0) fail(path + ":1: empty file");
  const size_t size = static_cast<size_t>(st.st_size);
  void* map = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (map == MAP_FAILED) fail(path + ": cannot map: " + std::strerror(errno));
  madvise(map, size, MADV_SEQUENTIAL);
  const char* p = static_cast<const char*>(map);
  const char* const end = p + size;
  long lineno = 1;
  auto where = [&]() { return path + ":" + std::to_string(lineno) + ": "; };
  auto line_end = [&](const char* q) {
    const char* e = static_cast<const char*>(std::memchr(q, '\n', end - q));
    return e ? e : end;
  };
  // Header.
  const char* e = line_end(p);
  std::istringstream hs(std::string(p, e));
  std::string banner, object, format, field, symmetry;
  hs >> banner >> object >> format >> field >> symmetry;
  for (auto* str : {&object, &format, &field, &symmetry})
    for (auto& ch : *str) ch = static_cast<char>(std::tolower(ch));
  if (banner != "%%MatrixMarket" || object != "matrix") fail(where() + "not a Matrix Market matrix header");
  if (symmetry != "general") fail(where() + "only 'general' symmetry is supported, got '" + symmetry + "'");
  Mtx m;
  m.coordinate = format == "coordinate";
  if (!m.coordinate && format != "array") fail(where() + "unknown format '" + format + "'");
  const bool pattern = field == "pattern";
  if (field != "real" && field != "integer" && field != "double" && !pattern)
    fail(where() + "unsupported field '" + field + "'");
  if (pattern && !m.coordinate) fail(where() + "pattern needs the coordinate format");
  // Comments, then the size line.
  p = e < end ? e + 1 : end;
  long nnz = -1;
  while (p < end) {
    ++lineno;
    e = line_end(p);
    if (p == e || *p == '%') {
      p = e < end ? e + 1 : end;
      continue;
    }
    std::istringstream ss(std::string(p, e));
    if (m.coordinate) {
      if (!(ss >> m.rows >> m.cols >> nnz)) fail(where() + "expected 'rows cols nonzeros'");
    } else {
      if (!(ss >> m.rows >> m.cols)) fail(where() + "expected 'rows cols'");
      nnz = m.rows * m.cols;
    }
    p = e < end ? e + 1 : end;
    break;
  }
  if (nnz < 0 || m.rows < 0 || m.cols < 0) fail(where() + "missing or negative size line");
  m.v.reserve(nnz);
  if (m.coordinate) m.i.reserve(nnz), m.j.reserve(nnz);
  // Data: whitespace-separated numbers; blank lines and '%' lines skipped.
  auto skip_blank = [&](bool newlines) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || (newlines && *p == '\n'))) {
      if (*p == '\n') ++lineno;
      ++p;
    }
  };
  auto number = [&](auto& out, const char* what) {
    skip_blank(false);
    if (p < end && *p == '+') ++p;
    auto [q, ec] = std::from_chars(p, end, out);
    if (ec != std::errc() || q == p) fail(where() + "expected " + what);
    p = q;
  };
  while (static_cast<long>(m.v.size()) < nnz) {
    ++lineno;
    skip_blank(false);
    if (p >= end) break;
    if (*p == '\n' || *p == '%') {
      p = line_end(p);
      p = p < end ? p + 1 : end;
      continue;
    }
    if (m.coordinate) {
      long r = 0, c = 0;
      number(r, "a row index");
      number(c, "a column index");
      if (r < 1 || r > m.rows || c < 1 || c > m.cols)
        fail(where() + "index (" + std::to_string(r) + ", " + std::to_string(c) + ") outside " +
             std::to_string(m.rows) + " x " + std::to_string(m.cols));
      m.i.push_back(r - 1);
      m.j.push_back(c - 1);
    }
    double x = 1.0;
    if (!pattern) {
      number(x, "a value");
      if (!std::isfinite(x)) fail(where() + "value is not finite");
    }
    m.v.push_back(x);
    skip_blank(false);
    if (p < end && *p != '\n') fail(where() + "unexpected text after the entry");
    if (p < end) ++p;
  }
  munmap(map, size);
  if (static_cast<long>(m.v.size()) < nnz)
    fail(path + ": " + std::to_string(nnz) + " entries announced, " + std::to_string(m.v.size()) + " found");
  return m;
}

std::vector<double> read_vector(const std::string& path, long expect, const char* name) {
  Mtx m = read_mtx(path);
  if (m.rows != expect || m.cols != 1)
    fail(path + ": " + name + " must be " + std::to_string(expect) + " x 1, got " + std::to_string(m.rows) +
         " x " + std::to_string(m.cols));
  if (!m.coordinate) return m.v;
  std::vector<double> x(expect, 0.0);
  for (size_t k = 0; k < m.v.size(); ++k) x[m.i[k]] += m.v[k];
  return x;
}

// Compressed sparse rows (or, built from the transposed triplets, columns); duplicates are summed
// by keeping them as separate entries, which is equivalent for products.
struct Compressed {
  long outer = 0, inner = 0;
  std::vector<long> ptr;
  std::vector<int> idx;
  std::vector<double> val;
};

Compressed compress(long outer, long inner, const std::vector<long>& oi, const std::vector<long>& ii,
                    const std::vector<double>& v) {
  Compressed c;
  c.outer = outer;
  c.inner = inner;
  c.ptr.assign(outer + 1, 0);
  for (long o : oi) ++c.ptr[o + 1];
  for (long k = 0; k < outer; ++k) c.ptr[k + 1] += c.ptr[k];
  std::vector<long> pos(c.ptr.begin(), c.ptr.end() - 1);
  c.idx.resize(v.size());
  c.val.resize(v.size());
  for (size_t k = 0; k < v.size(); ++k) {
    long p = pos[oi[k]]++;
    c.idx[p] = static_cast<int>(ii[k]);
    c.val[p] = v[k];
  }
  return c;
}

// y = M x, parallel over the outer index (rows of the CSR, columns of the CSC copy).
void product(const Compressed& m, const double* x, double* y) {
#pragma omp parallel for schedule(static)
  for (long o = 0; o < m.outer; ++o) {
    double s = 0.0;
    for (long p = m.ptr[o]; p < m.ptr[o + 1]; ++p) s += m.val[p] * x[m.idx[p]];
    y[o] = s;
  }
}

// The objective of docs/math.md; counts products with A or A^T like scipy_baseline.py.
class Objective final : public ceres::FirstOrderFunction {
 public:
  Objective(Compressed csr, Compressed csc, std::vector<double> b, std::vector<double> w, std::string f)
      : csr_(std::move(csr)), csc_(std::move(csc)), b_(std::move(b)), w2_(std::move(w)), f_(std::move(f)),
        z_(csr_.outer), r_(csr_.outer) {
    for (double& x : w2_) x *= x;
  }

  int NumParameters() const override { return static_cast<int>(csr_.inner); }

  bool Evaluate(const double* x, double* cost, double* gradient) const override {
    const long n = csr_.outer;
    product(csr_, x, z_.data());
    ++passes_;
    const int kind = f_ == "exp" ? 0 : (f_ == "cosh" ? 1 : 2);
    double su = 0.0;
#pragma omp parallel for reduction(+ : su) schedule(static)
    for (long i = 0; i < n; ++i) su += kind == 0 ? std::exp(z_[i]) : (kind == 1 ? std::cosh(z_[i]) : std::sinh(z_[i]));
    double cc = 0.0, bc = 0.0, wz = 0.0;
    // r_ holds c first; v is recomputed in the second loop (cheaper than storing it).
#pragma omp parallel for reduction(+ : cc, bc, wz) schedule(static)
    for (long i = 0; i < n; ++i) {
      double z = z_[i];
      double u = kind == 0 ? std::exp(z) : (kind == 1 ? std::cosh(z) : std::sinh(z));
      double c = u - su * b_[i];
      r_[i] = c;
      cc += c * c;
      bc += b_[i] * c;
      wz += w2_[i] * z * z;
    }
    if (!std::isfinite(cc) || !std::isfinite(wz)) return false;  // Ceres shortens the step
    *cost = 0.5 * cc + 0.5 * wz;
    if (gradient != nullptr) {
#pragma omp parallel for schedule(static)
      for (long i = 0; i < n; ++i) {
        double z = z_[i];
        double v = kind == 0 ? std::exp(z) : (kind == 1 ? std::sinh(z) : std::cosh(z));
        r_[i] = v * (r_[i] - bc) + w2_[i] * z;
      }
      product(csc_, r_.data(), gradient);
      ++passes_;
    }
    return true;
  }

  long passes() const { return passes_; }
  long rows() const { return csr_.outer; }
  long nonzeros() const { return static_cast<long>(csr_.val.size()); }

 private:
  Compressed csr_, csc_;
  std::vector<double> b_, w2_;
  std::string f_;
  mutable std::vector<double> z_, r_;
  mutable long passes_ = 0;
};

double norm(const std::vector<double>& x) {
  double s = 0.0;
  for (double v : x) s += v * v;
  return std::sqrt(s);
}

using Clock = std::chrono::steady_clock;

// The relative-gradient rule, the crossing times of 1e-4 and 1e-6, and the wall-time cap.
class Rule final : public ceres::IterationCallback {
 public:
  Rule(double g0, double tol, double cap, Clock::time_point start) : g0_(g0), tol_(tol), cap_(cap), start_(start) {}
  ceres::CallbackReturnType operator()(const ceres::IterationSummary& s) override {
    if (s.iteration > 0) ++iterations;
    double t = std::chrono::duration<double>(Clock::now() - start_).count();
    for (double thr : {1e-4, 1e-6})
      if (!crossed.count(thr) && s.gradient_norm <= thr * g0_) crossed[thr] = t;
    if (s.gradient_norm <= tol_ * g0_) return ceres::SOLVER_TERMINATE_SUCCESSFULLY;
    if (t >= cap_) return ceres::SOLVER_ABORT;
    return ceres::SOLVER_CONTINUE;
  }
  int iterations = 0;
  std::map<double, double> crossed;

 private:
  double g0_, tol_, cap_;
  Clock::time_point start_;
};

std::string json_number(double x) {
  if (!std::isfinite(x)) return "null";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", x);
  return buf;
}

std::string json_string(const std::string& s) {
  std::string o = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\') o += '\\', o += ch;
    else if (static_cast<unsigned char>(ch) < 0x20) o += ' ';
    else o += ch;
  }
  return o + "\"";
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> pos;
  std::string weights, function = "exp", x0path, refpath, tag;
  double tol = 1e-8, cap = 300.0;
  int threads = 2, repeats = 1;
  bool check = false;
  for (int k = 1; k < argc; ++k) {
    std::string a = argv[k];
    auto next = [&]() -> std::string {
      if (k + 1 >= argc) fail(a + " needs a value");
      return argv[++k];
    };
    if (a == "--weights") weights = next();
    else if (a == "--function") function = next();
    else if (a == "--x0") x0path = next();
    else if (a == "--reference") refpath = next();
    else if (a == "--tolerance") tol = std::atof(next().c_str());
    else if (a == "--time-cap") cap = std::atof(next().c_str());
    else if (a == "--threads") threads = std::atoi(next().c_str());
    else if (a == "--tag") tag = next();
    else if (a == "--repeats") repeats = std::atoi(next().c_str());
    else if (a == "--check") check = true;
    else if (!a.empty() && a[0] == '-') fail("unknown option " + a);
    else pos.push_back(a);
  }
  if (pos.size() != 2 || x0path.empty()) fail("usage: ceres_lbfgs A.mtx b.mtx --x0 x0.mtx [--weights w.mtx] [--function f] ...");
  if (function != "exp" && function != "cosh" && function != "sinh") fail("--function must be exp, cosh or sinh");
  if (!(tol > 0) || !(cap > 0) || threads < 1 || repeats < 1)
    fail("--tolerance, --time-cap, --threads and --repeats must be positive");
  omp_set_num_threads(threads);

  auto t0 = Clock::now();
  Mtx a = read_mtx(pos[0]);
  if (!a.coordinate) fail(pos[0] + ": A must be a coordinate (sparse) file");
  const long n = a.rows, d = a.cols;
  std::vector<double> b = read_vector(pos[1], n, "b");
  std::vector<double> w = weights.empty() ? std::vector<double>(n, 1.0) : read_vector(weights, n, "w");
  std::vector<double> x = read_vector(x0path, d, "x0");
  std::vector<double> ref = refpath.empty() ? std::vector<double>() : read_vector(refpath, d, "reference");
  Compressed csr = compress(n, d, a.i, a.j, a.v);
  Compressed csc = compress(d, n, a.j, a.i, a.v);
  a = Mtx();
  double read_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  std::fprintf(stderr, "read %ld x %ld, %zu nonzeros in %.2f s\n", n, d, csr.val.size(), read_seconds);

  auto* obj = new Objective(std::move(csr), std::move(csc), std::move(b), std::move(w), function);
  ceres::GradientProblem problem(obj);  // owns obj
  std::vector<double> g(d);
  double loss = 0.0;

  if (check) {
    obj->Evaluate(x.data(), &loss, g.data());
    std::string gs;
    for (long k = 0; k < d; ++k) gs += (k ? ", " : "") + json_number(g[k]);
    std::printf("{\"check\": \"value_at_x0\", \"loss\": %s, \"gradient_norm\": %s, \"gradient\": [%s]}\n",
                json_number(loss).c_str(), json_number(norm(g)).c_str(), gs.c_str());
    return 0;
  }

  ceres::GradientProblemSolver::Options opt;
  opt.line_search_direction_type = ceres::LBFGS;
  opt.line_search_type = ceres::WOLFE;
  opt.max_lbfgs_rank = 10;
  opt.use_approximate_eigenvalue_bfgs_scaling = true;  // gamma = s.y / y.y, as SciPy's L-BFGS-B
  opt.max_num_iterations = std::numeric_limits<int>::max();
  opt.max_solver_time_in_seconds = cap;
  opt.function_tolerance = 0.0;
  opt.gradient_tolerance = 0.0;
  opt.parameter_tolerance = 0.0;
  opt.min_line_search_step_size = 1e-300;
  opt.logging_type = ceres::SILENT;
#ifdef CERES_LBFGS_VERBOSE
  opt.logging_type = ceres::PER_MINIMIZER_ITERATION;
  opt.minimizer_progress_to_stdout = true;
#endif

  // One solve from x0; repeated (same inputs, read once) while the first takes under 2 s.
  struct Run {
    double wall, g0;
    long passes;
    int iterations;
    std::map<double, double> crossed;
    std::string message;
    ceres::TerminationType termination;
    std::vector<double> x;
  };
  auto solve_once = [&]() {
    Run r;
    r.x = x;
    const long passes0 = obj->passes();
    auto start = Clock::now();
    obj->Evaluate(r.x.data(), &loss, g.data());
    r.g0 = norm(g);
    Rule rule(r.g0, tol, cap, start);
    ceres::GradientProblemSolver::Options o = opt;
    o.callbacks.push_back(&rule);
    std::string error;
    if (!o.IsValid(&error)) fail("invalid Ceres options: " + error);
    ceres::GradientProblemSolver::Summary summary;
    if (r.g0 > 0) ceres::Solve(o, problem, r.x.data(), &summary);
    r.wall = std::chrono::duration<double>(Clock::now() - start).count();
    r.passes = obj->passes() - passes0;
    r.iterations = rule.iterations;
    r.crossed = rule.crossed;
    r.message = summary.message;
    r.termination = summary.termination_type;
    return r;
  };
  std::vector<Run> runs{solve_once()};
  if (runs[0].wall < 2.0)
    while (static_cast<int>(runs.size()) < repeats) runs.push_back(solve_once());
  std::vector<double> all_seconds;
  for (const Run& r : runs) all_seconds.push_back(r.wall);
  std::vector<size_t> order(runs.size());
  for (size_t k = 0; k < order.size(); ++k) order[k] = k;
  std::sort(order.begin(), order.end(), [&](size_t p, size_t q) { return runs[p].wall < runs[q].wall; });
  const Run& med = runs[order[order.size() / 2]];
  const double wall = med.wall, g0 = med.g0;
  const long passes = med.passes;
  x = med.x;

  obj->Evaluate(x.data(), &loss, g.data());  // the returned x, outside the timer
  const double gn = norm(g);
  const double rel = g0 > 0 ? gn / g0 : 0.0;
  std::string status = rel <= tol ? "converged" : (wall >= cap ? "time_cap" : "stopped");
  if (med.termination == ceres::FAILURE && status == "stopped") status = "error";
  double dist = -1.0;
  if (!ref.empty()) {
    double s = 0.0;
    for (long k = 0; k < d; ++k) s += (x[k] - ref[k]) * (x[k] - ref[k]);
    dist = std::sqrt(s);
  }
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  std::string seconds_to = "{";
  for (auto& [thr, t] : med.crossed) {
    if (seconds_to.size() > 1) seconds_to += ", ";
    seconds_to += thr == 1e-4 ? "\"0.0001\": " : "\"1e-06\": ";
    seconds_to += json_number(t);
  }
  seconds_to += "}";
  std::string all_json;
  for (double t : all_seconds) all_json += (all_json.empty() ? "" : ", ") + json_number(t);
  std::ostringstream o;
  o << "{\"solver\": \"ceres\", \"method\": \"lbfgs\", \"status\": \"" << status << "\", \"message\": "
    << json_string(med.message) << ", \"seconds\": " << json_number(wall)
    << ", \"all_seconds\": [" << all_json << "], \"repeats\": " << runs.size() << ", \"iterations\": " << med.iterations
    << ", \"a_passes\": " << passes << ", \"final_loss\": " << json_number(loss)
    << ", \"initial_gradient_norm\": " << json_number(g0) << ", \"final_gradient_norm\": " << json_number(gn)
    << ", \"relative_gradient_norm\": " << json_number(rel) << ", \"tolerance\": " << json_number(tol)
    << ", \"time_cap\": " << json_number(cap)
    << ", \"reference_distance\": " << (ref.empty() ? "null" : json_number(dist))
    << ", \"seconds_to\": " << seconds_to << ", \"peak_rss_bytes\": " << ru.ru_maxrss * 1024L
    << ", \"ceres\": \"" << CERES_VERSION_STRING << "\", \"threads\": " << threads
    << ", \"rows\": " << n << ", \"columns\": " << d << ", \"nonzeros\": " << obj->nonzeros()
    << ", \"function\": \"" << function << "\", \"read_seconds\": " << json_number(read_seconds)
    << ", \"tag\": " << json_string(tag) << "}";
  std::printf("%s\n", o.str().c_str());
  std::fprintf(stderr, "ceres lbfgs: %s in %.2f s, %d iterations, rel ||g|| %.3g (%s)\n", status.c_str(), wall,
               med.iterations, rel, med.message.c_str());
  return 0;
}
