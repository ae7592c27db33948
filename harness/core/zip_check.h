// check_zip_archive: the container check that runs before LibTorch reads a checkpoint.
//
// A LibTorch archive (our checkpoints) is a zip file of stored entries (the tensors, the pickle)
// and deflated ones (TorchScript code). LibTorch's own reader does not verify the entries'
// CRC-32 (its miniz is built without the check), so a damaged file reaches its unpickler, which
// then fails at best and at worst allocates whatever a corrupted length says (the checkpoint fuzz
// target found a 1.9 GB string). This check walks the end-of-central-directory record (zip64
// too), every central-directory entry and its local header, and verifies that each entry lies
// inside the file and that its bytes (inflated, for a deflated entry, a buffer at a time) match
// its CRC-32 and size. Torch-free.
#pragma once

#include <string>

namespace swavbench {

// Throws InputError naming `path`, the entry and what is wrong ("entry 'archive/data.pkl' fails
// its CRC-32 check: the file is damaged") when `bytes` is not such a zip file.
void check_zip_archive(const std::string& bytes, const std::string& path);

}  // namespace swavbench
