// Reading, writing, validating and fingerprinting mrf-cccp models (spec 3.3 "Model", 6): the HDF5
// schema mrf-cccp/model/1 and the YAML model form with the same keys. Every error names the file,
// the dataset or key, what was expected and what was found: DataError (65) for bad model data,
// InputError (66) for a missing or unreadable file, ConfigError (78) for YAML syntax and unknown
// YAML keys (spec 6, with line:col and the nearest valid key).
#pragma once

#include <string>
#include <vector>

#include "io/hdf5.hpp"
#include "model.hpp"

namespace effinfer::mrf {

inline constexpr const char* kModelSchema = "mrf-cccp/model/1";

// The effinfer_schema values read_model accepts.
std::vector<std::string> accepted_model_schemas();

// Reads a model: `.yaml`/`.yml` as a YAML model, anything else as HDF5 (dispatching on the root
// attribute effinfer_schema). Families are ordered by name; the model is fully validated.
Model read_model(const std::string& path);
Model read_model(const io::H5File& file);
// A YAML model from text; source_name is used in messages (e.g. the file name).
Model parse_model_yaml(const std::string& text, const std::string& source_name);

// Writes the model into an open (freshly created) file: root attributes effinfer_schema, num_vars,
// app; /x0, /truth/x when present; /factors/<name>/{vars, exponents, coeffs, linmap, attr degree}.
// Writes the model as given (no validation; call validate_model on untrusted models first).
void write_model(io::H5File& file, const Model& model);

// The checks read_model applies, on an in-memory model (shapes, finite values, variable ids,
// exponents, x0/truth length). `source` prefixes the messages. DataError on the first violation.
void validate_model(const Model& model, const std::string& source);

// Largest total degree of a row of the exponent table (0 for an empty table).
int table_degree(const ExponentTable& exponents);

// SHA-256 (hex) of a canonical little-endian byte serialisation of the factor data (families in
// name order: name, vars, exponents, coeffs, linmap with its per-factor flag). Independent of the
// file form, x0, truth and app; used to match a decomposition file to its model.
std::string model_sha256(const Model& model);

}  // namespace effinfer::mrf
