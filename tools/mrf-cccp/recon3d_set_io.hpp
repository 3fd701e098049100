// The recon3d set file of mrf-cccp (spec 3.3 schema mrf-cccp/recon3d/1, 6): template mesh,
// camera, per-instance lines of sight (optionally truth, image points, ids) and the authors'
// logged reference values. Every error names the file and dataset, what was expected and what was
// found: DataError (65) for bad content, InputError (66) for a missing or non-HDF5 file.
#pragma once

#include <string>
#include <vector>

#include "io/hdf5.hpp"
#include "recon3d.hpp"

namespace effinfer::mrf {

inline constexpr const char* kRecon3dSchema = "mrf-cccp/recon3d/1";

// Reads and fully validates a set. Root attrs: effinfer_schema (required), units ("mm" when
// present), source (default ""), noise_px (default NaN = unknown). Optional datasets that are
// absent stay empty (edges / rest lengths are then derived from the triangles / points).
Recon3dSet read_recon3d_set(const io::H5File& file);
Recon3dSet read_recon3d_set(const std::string& path);

// Validates the set (validate_recon3d_set) and writes it into an open, freshly created file; every
// dataset carries a `units` attribute. Optional parts are written when present: /camera/ext when
// has_ext, points_gt when every instance has it, image_points, id, /reference/<method>/*.
void write_recon3d_set(io::H5File& file, const Recon3dSet& set);

// The checks read_recon3d_set applies to values, on an in-memory set; `source` prefixes messages
// as "<source>:<dataset>". DataError on the first violation: template shapes, triangle / edge ids
// out of range, rest length <= 0 or non-finite, camera non-finite, lines of sight / truth / image
// points of the wrong shape (B/V mismatch), NaN/Inf (first index given) or a zero line of sight,
// ids / sources / reference vectors of a length other than B.
void validate_recon3d_set(const Recon3dSet& set, const std::string& source);

// Warnings of spec 6 (not errors): ">10x scale" when the mean rest length and the mean ground-truth
// edge length differ by more than a factor 10 (e.g. a unit-length template against mm points, as
// in the authors' cardboardnoise0 run). Empty when there is nothing to report.
std::vector<std::string> recon3d_set_warnings(const Recon3dSet& set);

}  // namespace effinfer::mrf
