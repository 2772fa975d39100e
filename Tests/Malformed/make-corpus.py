import gzip, random, os
C = "%%MatrixMarket matrix coordinate real general\n"
A = "%%MatrixMarket matrix array real general\n"
M = "@@"  # marks the start of the line the error must name
files = []  # (name, text-with-marker or bytes, line, fragment, role, description)
def f(name, text, frag, role="any", line=None, desc=None):
    files.append((name, text, line, frag, role, desc))

# Banner and header
f("no-banner.mtx", "@@% no banner: line 1 must start with %%MatrixMarket\n3 1 1\n1 1 1\n", "missing banner")
f("bom.mtx", "\ufeff@@%%MatrixMarket matrix coordinate real general\n% a UTF-8 byte-order mark precedes the banner\n3 1 0\n", "byte-order mark")
f("banner-misspelt.mtx", "@@%%MatrixMarkt matrix coordinate real general\n% the banner word is misspelt (MatrixMarkt)\n3 1 0\n", "banner")
f("banner-no-symmetry.mtx", "@@%%MatrixMarket matrix coordinate real\n% the banner lacks its fourth word (symmetry)\n3 1 0\n", "symmetry is missing")
f("banner-fifth-word.mtx", "@@%%MatrixMarket matrix coordinate real general extra\n% the banner has a fifth word\n3 1 0\n", "fifth word")
f("banner-glued.mtx", "@@%%MatrixMarketmatrix coordinate real general\n% no blank between %%MatrixMarket and the object\n3 1 0\n", "needs a blank")
f("object-vector.mtx", "@@%%MatrixMarket vector coordinate real general\n% object 'vector' is not part of the format (only 'matrix')\n3 1 0\n", "object 'vector'")
f("format-sparse.mtx", "@@%%MatrixMarket matrix sparse real general\n% unknown format 'sparse' (coordinate or array)\n3 1 0\n", "unknown format 'sparse'")
f("field-double.mtx", "@@%%MatrixMarket matrix coordinate double general\n% unknown field 'double' (real, integer, pattern, complex)\n3 1 0\n", "unknown field 'double'")
f("symmetry-diagonal.mtx", "@@%%MatrixMarket matrix coordinate real diagonal\n% unknown symmetry 'diagonal'\n3 1 0\n", "unknown symmetry")
f("pattern-array.mtx", "@@%%MatrixMarket matrix array pattern general\n% illegal combination: pattern field with array format\n3 1\n", "pattern field needs the coordinate format")
f("pattern-skew.mtx", "@@%%MatrixMarket matrix coordinate pattern skew-symmetric\n% illegal combination: pattern cannot be skew-symmetric\n2 2 0\n", "cannot be skew-symmetric")
f("real-hermitian.mtx", "@@%%MatrixMarket matrix coordinate real hermitian\n% illegal combination: hermitian needs the complex field\n2 2 0\n", "hermitian symmetry needs the complex field")
f("integer-hermitian.mtx", "@@%%MatrixMarket matrix coordinate integer hermitian\n% illegal combination: hermitian with the integer field\n2 2 0\n", "hermitian symmetry needs the complex field")
f("complex-general.mtx", "@@%%MatrixMarket matrix coordinate complex general\n% complex values are not supported by hyperreg\n3 1 1\n1 1 1.0 2.0\n", "complex matrices are not supported")
f("complex-hermitian.mtx", "@@%%MatrixMarket matrix coordinate complex hermitian\n% complex hermitian: legal Matrix Market, not supported here\n2 2 1\n1 1 1 0\n", "complex matrices are not supported")
f("rectangular-symmetric.mtx", "%%MatrixMarket matrix coordinate real symmetric\n% symmetric storage of a non-square (3 x 4) matrix\n@@3 4 0\n", "must be square, but the size line says 3 x 4")
# Size line
f("no-size-line.mtx", C + "% the file ends after its comments: no size line\n@@\n", "ends before the size line")
f("size-two-numbers.mtx", C + "% the coordinate size line has two numbers, not three\n@@3 1\n", "size line must be 'rows columns entries'")
f("size-negative.mtx", C + "% a negative column count\n@@3 -1 1\n1 1 1\n", "negative size '-1'")
f("size-beyond-64-bits.mtx", C + "% the entry count does not fit in 64 bits\n@@3 1 99999999999999999999\n", "does not fit in 64 bits")
f("size-real.mtx", A + "% the array size line holds a real number\n@@3 1.0\n", "size line must be 'rows columns'")
f("size-beyond-memory.mtx", C + "% the size line promises 10^15 entries: more memory than exists (must fail before allocating)\n@@1000 1 1000000000000000\n1 1 1\n", "physical memory")
f("array-beyond-memory.mtx", A + "% an array of 10^6 x 10^6 values (8 TB): more memory than exists\n@@1000000 1000000\n1\n", "physical memory", role="matrix")
f("rows-beyond-int32.mtx", C + "% 3e9 rows: coordinate indices beyond 32 bits are not supported\n@@3000000000 1 1\n1 1 1\n", "is not supported")
# Entry counts
f("truncated.mtx", C + "% the size line declares 3 entries, the file holds 2 (a cut download)\n3 1 3\n1 1 1\n@@2 1 2\n", "truncated: expected 3 entries, found 2")
f("truncated-blank-lines.mtx", C + "% 3 entries declared, 1 given, then blank lines\n3 1 3\n1 1 1\n\n@@\n", "truncated: expected 3 entries, found 1")
f("too-many-entries.mtx", C + "% the size line declares 1 entry, the file holds 2\n3 1 1\n1 1 1\n@@2 1 2\n", "too many entries")
f("array-truncated.mtx", A + "% the array declares 4 values, holds 3\n4 1\n1\n2\n@@3\n", "truncated: expected 4 values, found 3")
f("array-extra-value.mtx", A + "% the array declares 2 values, holds 3\n2 1\n1\n2\n@@3\n", "too many values")
# Indices
f("zero-based-row.mtx", C + "% 0-based row index (Matrix Market is 1-based)\n3 1 2\n1 1 1\n@@0 1 1.0\n", "row index 0 is out of range 1...3")
f("zero-based-column.mtx", C + "% 0-based column index\n3 1 1\n@@1 0 1.0\n", "column index 0 is out of range 1...1")
f("row-out-of-range.mtx", C + "% row index 4 in a 3-row matrix\n3 1 1\n@@4 1 1.0\n", "row index 4 is out of range 1...3")
f("column-out-of-range.mtx", C + "% column index 2 in a 1-column matrix\n3 1 1\n@@1 2 1.0\n", "column index 2 is out of range 1...1")
f("negative-index.mtx", C + "% negative row index\n3 1 1\n@@-1 1 1.0\n", "row index -1 is out of range")
f("real-index.mtx", C + "% a row index written as a real number\n3 1 1\n@@1.0 1 1\n", "invalid row index '1.0'")
f("index-overflow.mtx", C + "% a row index beyond 64 bits\n3 1 1\n@@99999999999999999999 1 1\n", "row index")
# Values
f("fortran-exponent.mtx", C + "% Fortran D exponent (1.5D+02) is not a Matrix Market number\n3 1 1\n@@1 1 1.5D+02\n", "invalid number '1.5D+02'")
f("decimal-comma.mtx", C + "% decimal comma (1,5) instead of a point\n3 1 1\n@@1 1 1,5\n", "invalid number '1,5'")
f("hexadecimal.mtx", C + "% hexadecimal value 0x10\n3 1 1\n@@1 1 0x10\n", "invalid number '0x10'")
f("half-numeric.mtx", C + "% half-numeric token 12abc\n3 1 1\n@@1 1 12abc\n", "invalid number '12abc'")
f("bare-exponent.mtx", C + "% exponent without digits (1e)\n3 1 1\n@@1 1 1e\n", "invalid number '1e'")
f("lone-dot.mtx", C + "% a lone decimal point\n3 1 1\n@@1 1 .\n", "invalid number '.'")
f("double-sign.mtx", C + "% two signs (+-1)\n3 1 1\n@@1 1 +-1\n", "invalid number '+-1'")
f("nan.mtx", C + "% a NaN value\n3 1 1\n@@1 1 NaN\n", "non-finite value 'NaN'")
f("inf-array.mtx", A + "% an infinite value in an array file\n2 1\n1\n@@-inf\n", "non-finite value '-inf'")
f("overflow.mtx", C + "% 1e400 overflows a double\n3 1 1\n@@1 1 1e400\n", "'1e400' overflows a double")
f("integer-fraction.mtx", "%%MatrixMarket matrix coordinate integer general\n% the integer field holds 1.5\n3 1 1\n@@1 1 1.5\n", "non-integer value '1.5'")
f("pattern-with-value.mtx", "%%MatrixMarket matrix coordinate pattern general\n% a pattern entry carries a value\n3 1 1\n@@1 1 1\n", "unexpected text '1'")
f("skew-diagonal.mtx", "%%MatrixMarket matrix coordinate real skew-symmetric\n% a skew-symmetric matrix stores a diagonal entry\n2 2 1\n@@1 1 3\n", "zero diagonal", role="matrix")
# Line structure
f("trailing-garbage.mtx", C + "% text after the value\n3 1 1\n@@1 1 1 junk\n", "unexpected text 'junk' after the entry")
f("missing-value.mtx", C + "% an entry without its value\n3 1 1\n@@1 1\n", "missing value")
f("missing-column.mtx", C + "% an entry with only a row index\n3 1 1\n@@1\n", "missing column index")
f("array-two-per-line.mtx", A + "% two array values on one line\n2 1\n@@1 2\n", "one value per line")
f("crlf-error.mtx", "%%MatrixMarket matrix coordinate real general\r\n% CRLF line ends; the error is on the sixth line\r\n3 1 2\r\n1 1 1\r\n\r\n@@2 1 x\r\n", "invalid number 'x'")
f("unterminated-last-line.mtx", C + "% the last line has no newline and a bad value\n3 1 2\n1 1 1\n@@2 1 2.5.1", "invalid number '2.5.1'")
f("nul-byte.mtx", C + "% a NUL byte inside a value\n3 1 1\n@@1 1 1\x002\n", "NUL byte at column 6")
f("overlong-line.mtx", C + "% an overlong line: 200000 junk characters after a valid entry\n3 1 1\n@@1 1 1 " + "x" * 200000 + "\n", "unexpected text 'xxxx")
f("overlong-number.mtx", C + "% an overlong number: 100000 digits (overflows a double)\n3 1 1\n@@1 1 1" + "0" * 100000 + "\n", "overflows a double")
f("matrix-as-vector.mtx", C + "% a 3 x 4 matrix where a vector (n x 1) is expected\n@@3 4 0\n", "expected a vector", role="vector")

manifest = ["# file\trole\tline\tmessage fragment\t(what is wrong: see the file's first comment, or below)"]
for name, text, line, frag, role, desc in files:
    lines = text.split("\n")
    found = [i for i, l in enumerate(lines) if M in l]
    assert len(found) == 1, name
    ln = found[0] + 1
    data = text.replace(M, "").encode("utf-8")
    open(name, "wb").write(data)
    manifest.append(f"{name}\t{role}\t{ln}\t{frag}")
# Files that cannot hold a comment.
open("empty.mtx", "wb").write(b"")
manifest.append("empty.mtx\tany\t1\tempty file")
rng = random.Random(5)
open("binary-garbage.mtx", "wb").write(bytes(rng.randrange(256) for _ in range(4096)))
manifest.append("binary-garbage.mtx\tany\t1\tNUL byte at column 27")  # its first NUL: byte 27 of line 1
text = C + "% a gzip stream cut short (a partial download)\n300 1 300\n" + "".join(f"{i} 1 {rng.uniform(-1,1)!r}\n" for i in range(1, 301))
packed = gzip.compress(text.encode(), mtime=0)
open("truncated.mtx.gz", "wb").write(packed[: len(packed) // 2])
manifest.append("truncated.mtx.gz\tany\t-\ttruncated gzip stream")
bad = bytearray(packed); bad[len(bad) // 2] ^= 0xFF
open("corrupt.mtx.gz", "wb").write(bytes(bad))
manifest.append("corrupt.mtx.gz\tany\t-\tgzip")
lying = bytearray(gzip.compress((C + "% the gzip trailer claims 4 GB of text for 100 bytes\n3 1 1\n1 1 1\n").encode(), mtime=0))
lying[-4:] = b"\xf0\xff\xff\xff"
open("gzip-lying-size.mtx.gz", "wb").write(bytes(lying))
manifest.append("gzip-lying-size.mtx.gz\tany\t-\tincorrect length check")
open("MANIFEST.tsv", "w").write("\n".join(manifest) + "\n")
print(len(manifest) - 1, "files")
