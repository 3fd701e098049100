// SHA-256 (FIPS 180-4) of a byte string as lowercase hex; used to fingerprint resolved configs.
#pragma once

#include <string>

namespace effinfer {
std::string sha256_hex(const std::string& data);
}
