// The /provenance group every HDF5 output carries (DESIGN.md): volatile facts only, so outputs
// compare with `h5diff --exclude-path /provenance`.
#pragma once

#include "core/tool.hpp"
#include "io/hdf5.hpp"

namespace effinfer::io {

// Writes root attribute effinfer_schema and the /provenance group.
void write_provenance(H5File& file, const RunContext& ctx, const std::string& schema);

}  // namespace effinfer::io
