// The /provenance group every HDF5 output carries (DESIGN.md): volatile facts only, so outputs
// compare with `h5diff --exclude-path /provenance`.
#pragma once

#include "core/tool.hpp"
#include "io/atomic_output.hpp"
#include "io/hdf5.hpp"

namespace effinfer::io {

// Writes root attribute effinfer_schema and the /provenance group.
void write_provenance(H5File& file, const RunContext& ctx, const std::string& schema);

// Writes the command's HDF5 output atomically: a temp file beside `-o` gets the schema, the
// provenance and whatever body(file) writes, then replaces the target (refused without --force
// when it exists). Sets ctx.output.
template <class Body>
void write_hdf5_output(RunContext& ctx, const std::string& schema, Body body) {
  AtomicOutput out(ctx.options.output, ctx.options.force);
  {
    H5File file = H5File::create(out.temp_path());
    write_provenance(file, ctx, schema);
    body(file);
    file.close();
  }
  out.commit();
  ctx.output = ctx.options.output;
}

}  // namespace effinfer::io
