#include "harness/dist/process_group.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <c10/util/Exception.h>
#include <torch/version.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <thread>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/Types.hpp>
#include <torch/csrc/distributed/c10d/Work.hpp>

#include "harness/core/check.h"

// c10d compiles ProcessGroupGloo.hpp only under USE_C10D_GLOO, which LibTorch's CMake config does
// not export. The Gloo headers (libgloo-dev on Debian; shipped with the official LibTorch) are
// the sign that the library was built with Gloo, as every Linux LibTorch is.
#if !defined(SWAVBENCH_NO_GLOO) && __has_include(<gloo/config.h>) && \
    __has_include(<torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>)
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO 1
#endif
#define SWAVBENCH_HAVE_GLOO 1
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif

// NCCL needs nccl.h and libtorch_cuda, which a CPU LibTorch lacks even where the c10d header is
// installed (Debian ships it), so it is opt-in: the build defines USE_C10D_NCCL for CUDA LibTorch.
#if defined(USE_C10D_NCCL)
#define SWAVBENCH_HAVE_NCCL 1
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

// LibTorch 2.0 split ProcessGroup into a dispatching front (ProcessGroup) and the per-backend
// implementations (Backend) that ProcessGroupGloo / ProcessGroupNCCL now derive from; in 1.13 they
// derive from ProcessGroup itself. Both expose the same allreduce / allgather / broadcast /
// barrier calls.
#if TORCH_VERSION_MAJOR >= 2
#include <torch/csrc/distributed/c10d/Backend.hpp>
using C10dGroup = ::c10d::Backend;
#else
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
using C10dGroup = ::c10d::ProcessGroup;
#endif

extern char** environ;

namespace swavbench {
namespace {

// An environment variable, with "set but empty" read as unset (shells export empty values).
std::optional<std::string> get_env(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return std::nullopt;
  return std::string(value);
}

int parse_int_env(const char* name, const std::string& value) {
  errno = 0;
  char* end = nullptr;
  const long parsed = std::strtol(value.c_str(), &end, 10);
  SB_INPUT_CHECK(
      end != value.c_str() && *end == '\0' && errno == 0 && parsed >= INT_MIN && parsed <= INT_MAX,
      "environment variable {}='{}' is not an integer", name, value);
  return static_cast<int>(parsed);
}

int int_env(const char* name, int fallback) {
  const auto value = get_env(name);
  return value ? parse_int_env(name, *value) : fallback;
}

void validate(const DistEnv& env, const char* rank_var, const char* size_var,
              const char* local_var) {
  SB_INPUT_CHECK(env.world_size >= 1, "environment variable {}={} must be at least 1", size_var,
                 env.world_size);
  SB_INPUT_CHECK(env.rank >= 0 && env.rank < env.world_size,
                 "environment variable {}={} must be in [0, {}) ({}={})", rank_var, env.rank,
                 env.world_size, size_var, env.world_size);
  SB_INPUT_CHECK(env.local_rank >= 0 && env.local_rank < env.world_size,
                 "environment variable {}={} must be in [0, {})", local_var, env.local_rank,
                 env.world_size);
  SB_INPUT_CHECK(env.master_port >= 1 && env.master_port <= 65535,
                 "environment variable MASTER_PORT={} must be a TCP port (1-65535)",
                 env.master_port);
  SB_INPUT_CHECK(!env.master_addr.empty(), "MASTER_ADDR is empty");
}

bool is_loopback(const std::string& addr) {
  return addr.rfind("127.", 0) == 0 || addr == "localhost" || addr == "::1";
}

std::string seconds_text(std::chrono::milliseconds ms) {
  return fmt::format("{:g}", static_cast<double>(ms.count()) / 1000.0);
}

// c10::Error::what() appends a C++ backtrace that buries the message users need.
std::string error_text(const std::exception& e) {
  if (const auto* c10_error = dynamic_cast<const c10::Error*>(&e)) {
    return c10_error->what_without_backtrace();
  }
  return e.what();
}

}  // namespace

std::string first_slurm_host(const std::string& nodelist, const std::string& variable) {
  const auto malformed = [&](const char* why) {
    return InputError(fmt::format("environment variable {}='{}' is not a SLURM node list: {}",
                                  variable, nodelist, why));
  };
  // The first entry ends at the first comma outside brackets ("a[1,3],b" -> "a[1,3]").
  size_t end = 0;
  int depth = 0;
  for (; end < nodelist.size(); ++end) {
    const char ch = nodelist[end];
    if (ch == '[') {
      if (++depth > 1) throw malformed("nested '['");
    } else if (ch == ']') {
      if (--depth < 0) throw malformed("']' without '['");
    } else if (ch == ',' && depth == 0) {
      break;
    }
  }
  if (depth != 0) throw malformed("unclosed '['");
  const std::string entry = nodelist.substr(0, end);
  if (entry.empty()) throw malformed("empty host name");

  // Each bracket group contributes its first item: "[01-04]" -> "01", "[3,1-2]" -> "3".
  std::string host;
  for (size_t i = 0; i < entry.size(); ++i) {
    const char ch = entry[i];
    if (ch != '[') {
      const bool ok =
          std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '.' || ch == '_';
      if (!ok) throw malformed("unexpected character in host name");
      host += ch;
      continue;
    }
    const size_t close = entry.find(']', i);
    const std::string group = entry.substr(i + 1, close - i - 1);
    if (group.empty()) throw malformed("empty '[]'");
    if (group.find_first_not_of("0123456789,-") != std::string::npos) {
      throw malformed("only digits, ',' and '-' may appear inside '[]'");
    }
    const std::string first = group.substr(0, group.find_first_of(",-"));
    if (first.empty()) throw malformed("a range inside '[]' has no start");
    host += first;
    i = close;
  }
  return host;
}

DistEnv read_dist_env() {
  DistEnv env;
  const auto rank = get_env("RANK");
  const auto world_size = get_env("WORLD_SIZE");
  if (rank || world_size) {
    SB_INPUT_CHECK(rank && world_size,
                   "environment variable {} is set but {} is not: a launcher such as torchrun "
                   "sets both",
                   rank ? "RANK" : "WORLD_SIZE", rank ? "WORLD_SIZE" : "RANK");
    env.rank = parse_int_env("RANK", *rank);
    env.world_size = parse_int_env("WORLD_SIZE", *world_size);
    env.local_rank = int_env("LOCAL_RANK", env.rank);
    env.master_addr = get_env("MASTER_ADDR").value_or("127.0.0.1");
    env.master_port = int_env("MASTER_PORT", 29500);
    env.from_env = true;
    env.source = "torchrun";
    validate(env, "RANK", "WORLD_SIZE", "LOCAL_RANK");
    return env;
  }

  const auto procid = get_env("SLURM_PROCID");
  const auto ntasks = get_env("SLURM_NTASKS");
  if (procid && ntasks) {
    env.rank = parse_int_env("SLURM_PROCID", *procid);
    env.world_size = parse_int_env("SLURM_NTASKS", *ntasks);
    env.local_rank = int_env("SLURM_LOCALID", 0);
    if (const auto addr = get_env("MASTER_ADDR")) {
      env.master_addr = *addr;
    } else if (const auto nodes = get_env("SLURM_NODELIST")) {
      env.master_addr = first_slurm_host(*nodes, "SLURM_NODELIST");
    } else if (const auto job_nodes = get_env("SLURM_JOB_NODELIST")) {
      env.master_addr = first_slurm_host(*job_nodes, "SLURM_JOB_NODELIST");
    } else {
      SB_INPUT_CHECK(env.world_size == 1,
                     "SLURM_NTASKS={} but neither MASTER_ADDR nor SLURM_NODELIST is set: cannot "
                     "tell where rank 0 runs",
                     env.world_size);
    }
    env.master_port = int_env("MASTER_PORT", 29500);
    env.from_env = true;
    env.source = "slurm";
    validate(env, "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID");
    return env;
  }
  return env;
}

bool gloo_available() {
#ifdef SWAVBENCH_HAVE_GLOO
  return true;
#else
  return false;
#endif
}

bool nccl_available() {
#ifdef SWAVBENCH_HAVE_NCCL
  return true;
#else
  return false;
#endif
}

std::string default_backend(const torch::Device& device) {
  return device.is_cuda() ? "nccl" : "gloo";
}

struct ProcessGroupCollective::Impl {
  // Declared before `group` so that it outlives it: the group talks to the store while it shuts
  // down.
  c10::intrusive_ptr<::c10d::Store> store;
  c10::intrusive_ptr<C10dGroup> group;
};

namespace {

#ifdef SWAVBENCH_HAVE_GLOO
std::shared_ptr<::gloo::transport::Device> make_gloo_device(const std::string& master_addr) {
  // GLOO_SOCKET_IFNAME is torch.distributed's way to pick the interface; honour it the same way.
  if (const auto ifname = get_env("GLOO_SOCKET_IFNAME")) {
    return ::c10d::ProcessGroupGloo::createDeviceForInterface(ifname->substr(0, ifname->find(',')));
  }
  // A job on one machine stays on loopback; the default device resolves the host name, which on
  // many machines maps to an address other processes cannot reach, or to none.
  if (is_loopback(master_addr))
    return ::c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  return ::c10d::ProcessGroupGloo::createDefaultDevice();
}
#endif

// Gloo writes to its peers with writev, without MSG_NOSIGNAL: a write to a rank that just died
// raises SIGPIPE, whose default action kills this rank before Gloo can report the error. Python
// ignores SIGPIPE, which is why torch.distributed never sees this; do the same, unless the program
// installed its own handler.
void ignore_sigpipe() {
  struct sigaction current {};
  if (::sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL) {
    ::signal(SIGPIPE, SIG_IGN);
  }
}

// Every rank adds one to a counter in the store; returns once all have, or throws naming how
// many arrived.
void wait_for_all_ranks(::c10d::Store& store, const DistEnv& env,
                        std::chrono::milliseconds timeout) {
  const std::string key = "swavbench/ranks_arrived";
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int64_t arrived = 0;
  try {
    arrived = store.add(key, 1);
    while (arrived < env.world_size && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      arrived = store.add(key, 0);
    }
  } catch (const std::exception& e) {
    throw Error(fmt::format(
        "rank {}: rendezvous with {}:{} failed (world size {}, timeout {} s): {}", env.rank,
        env.master_addr, env.master_port, env.world_size, seconds_text(timeout), error_text(e)));
  }
  if (arrived < env.world_size) {
    throw Error(fmt::format(
        "rank {}: rendezvous with {}:{} failed (world size {}, timeout {} s): only {} of {} ranks "
        "arrived (did every rank start, with the same MASTER_ADDR, MASTER_PORT and WORLD_SIZE?)",
        env.rank, env.master_addr, env.master_port, env.world_size, seconds_text(timeout), arrived,
        env.world_size));
  }
}

}  // namespace

ProcessGroupCollective::ProcessGroupCollective(const DistEnv& env, const std::string& backend,
                                               const ProcessGroupOptions& options)
    : impl_(std::make_unique<Impl>()),
      rank_(env.rank),
      world_size_(env.world_size),
      backend_(backend),
      options_(options) {
  SB_INPUT_CHECK(env.world_size >= 1 && env.rank >= 0 && env.rank < env.world_size,
                 "invalid distributed layout: rank {} of world size {}", env.rank, env.world_size);
  SB_INPUT_CHECK(env.master_port >= 1 && env.master_port <= 65535,
                 "invalid master port {} (expected 1-65535)", env.master_port);
  SB_INPUT_CHECK(options.timeout.count() > 0 && options.rendezvous_timeout.count() > 0,
                 "distributed timeouts must be positive");
  if (backend == "gloo") {
    SB_INPUT_CHECK(
        gloo_available(),
        "this LibTorch (or this build of swavbench) has no Gloo backend: distributed "
        "CPU runs need a LibTorch built with Gloo and its headers (Debian: libgloo-dev); "
        "run a single process instead");
  } else if (backend == "nccl") {
    SB_INPUT_CHECK(nccl_available(),
                   "this LibTorch was built without NCCL; use device cpu (Gloo), or a CUDA "
                   "LibTorch with NCCL (and build swavbench with USE_C10D_NCCL)");
  } else {
    throw InputError(
        fmt::format("unknown distributed backend '{}': expected 'gloo' or 'nccl'", backend));
  }

  ignore_sigpipe();

  const auto rendezvous_error = [&](const std::exception& e) {
    return Error(
        fmt::format("rank {}: rendezvous with {}:{} failed (world size {}, timeout {} s): {}",
                    rank_, env.master_addr, env.master_port, world_size_,
                    seconds_text(options.rendezvous_timeout), error_text(e)));
  };
  try {
    ::c10d::TCPStoreOptions store_options;
    store_options.port = static_cast<std::uint16_t>(env.master_port);
    store_options.isServer = env.rank == 0;
    store_options.numWorkers = static_cast<std::size_t>(env.world_size);
    // TCPStore's own wait for workers gives up silently at its timeout (LibTorch 1.13), after
    // which Gloo would wait for the missing ranks for the whole operation timeout; the explicit
    // count below fails the rendezvous on time instead.
    store_options.waitWorkers = false;
    store_options.timeout = options.rendezvous_timeout;
    impl_->store = c10::make_intrusive<::c10d::TCPStore>(env.master_addr, store_options);
  } catch (const std::exception& e) {
    throw rendezvous_error(e);
  }
  wait_for_all_ranks(*impl_->store, env, options.rendezvous_timeout);

  try {
    if (backend == "gloo") {
#ifdef SWAVBENCH_HAVE_GLOO
      auto gloo_options = ::c10d::ProcessGroupGloo::Options::create(options.timeout);
      gloo_options->devices.push_back(make_gloo_device(env.master_addr));
      impl_->group = c10::make_intrusive<::c10d::ProcessGroupGloo>(impl_->store, env.rank,
                                                                   env.world_size, gloo_options);
#endif
    } else {
#ifdef SWAVBENCH_HAVE_NCCL
      auto nccl_options = ::c10d::ProcessGroupNCCL::Options::create();
      nccl_options->timeout = options.timeout;
      impl_->group = c10::make_intrusive<::c10d::ProcessGroupNCCL>(impl_->store, env.rank,
                                                                   env.world_size, nccl_options);
#endif
    }
  } catch (const std::exception& e) {
    throw rendezvous_error(e);
  }
  SB_CHECK(impl_->group, "no process group was created for backend '{}'", backend);
}

ProcessGroupCollective::~ProcessGroupCollective() = default;

namespace {

// Waits for one c10d operation, turning c10d's and Gloo's exceptions into swavbench::Error. Gloo
// enforces the group's timeout itself and fails at once when a peer's socket closes.
void wait_for(const c10::intrusive_ptr<::c10d::Work>& work, int rank,
              std::chrono::milliseconds timeout) {
  try {
    work->wait();
  } catch (const std::exception& e) {
    throw Error(
        fmt::format("rank {}: collective failed (another rank died or timed out after {} s): {}",
                    rank, seconds_text(timeout), error_text(e)));
  }
}

}  // namespace

void ProcessGroupCollective::all_reduce_sum(torch::Tensor& tensor) {
  SB_CHECK(tensor.defined(), "all_reduce_sum of an undefined tensor");
  // c10d works on dense contiguous buffers; a strided view is reduced through a copy.
  std::vector<at::Tensor> tensors{tensor.contiguous()};
  ::c10d::AllreduceOptions opts;
  opts.reduceOp = ::c10d::ReduceOp::SUM;
  opts.timeout = options_.timeout;
  c10::intrusive_ptr<::c10d::Work> work;
  try {
    work = impl_->group->allreduce(tensors, opts);
  } catch (const std::exception& e) {
    throw Error(fmt::format("rank {}: all_reduce_sum: {}", rank_, error_text(e)));
  }
  wait_for(work, rank_, options_.timeout);
  if (!tensors[0].is_same(tensor)) tensor.copy_(tensors[0]);
}

torch::Tensor ProcessGroupCollective::all_gather_cat(const torch::Tensor& tensor) {
  SB_CHECK(tensor.defined() && tensor.dim() >= 1,
           "all_gather_cat needs a tensor with at least one dimension");
  std::vector<at::Tensor> inputs{tensor.contiguous()};
  std::vector<std::vector<at::Tensor>> outputs(1);
  for (int r = 0; r < world_size_; ++r) {
    outputs[0].push_back(torch::empty(tensor.sizes(), tensor.options()));
  }
  ::c10d::AllgatherOptions opts;
  opts.timeout = options_.timeout;
  c10::intrusive_ptr<::c10d::Work> work;
  try {
    work = impl_->group->allgather(outputs, inputs, opts);
  } catch (const std::exception& e) {
    throw Error(fmt::format("rank {}: all_gather_cat: {}", rank_, error_text(e)));
  }
  wait_for(work, rank_, options_.timeout);
  return torch::cat(outputs[0], 0);
}

void ProcessGroupCollective::broadcast(torch::Tensor& tensor, int root) {
  const std::chrono::milliseconds timeout = options_.timeout;
  SB_CHECK(tensor.defined(), "broadcast of an undefined tensor");
  SB_CHECK(root >= 0 && root < world_size_, "broadcast root {} outside [0, {})", root, world_size_);
  std::vector<at::Tensor> tensors{tensor.contiguous()};
  ::c10d::BroadcastOptions opts;
  opts.rootRank = root;
  opts.rootTensor = 0;
  opts.timeout = timeout;
  c10::intrusive_ptr<::c10d::Work> work;
  try {
    work = impl_->group->broadcast(tensors, opts);
  } catch (const std::exception& e) {
    throw Error(fmt::format("rank {}: broadcast: {}", rank_, error_text(e)));
  }
  wait_for(work, rank_, timeout);
  if (!tensors[0].is_same(tensor)) tensor.copy_(tensors[0]);
}

void ProcessGroupCollective::barrier() {
  ::c10d::BarrierOptions opts;
  opts.timeout = options_.timeout;
  c10::intrusive_ptr<::c10d::Work> work;
  try {
    work = impl_->group->barrier(opts);
  } catch (const std::exception& e) {
    throw Error(fmt::format("rank {}: barrier: {}", rank_, error_text(e)));
  }
  wait_for(work, rank_, options_.timeout);
}

void ProcessGroupCollective::post_to_all(const std::string& text) {
  SB_CHECK(rank_ == 0, "only rank 0 posts messages");
  const std::string key = fmt::format("swavbench/post/{}", posts_++);
  try {
    impl_->store->set(key, std::vector<uint8_t>(text.begin(), text.end()));
  } catch (const std::exception& e) {
    throw Error(
        fmt::format("rank 0: posting a message to the other ranks failed: {}", error_text(e)));
  }
}

std::string ProcessGroupCollective::wait_for_post(std::chrono::milliseconds timeout) {
  SB_CHECK(rank_ != 0, "rank 0 posts messages, it does not wait for them");
  const std::string key = fmt::format("swavbench/post/{}", posts_++);
  try {
    impl_->store->wait({key}, timeout);
    const std::vector<uint8_t> bytes = impl_->store->get(key);
    // The receipt rank 0's wait_until_read waits for.
    impl_->store->set(fmt::format("{}/read/{}", key, rank_), std::vector<uint8_t>{1});
    return std::string(bytes.begin(), bytes.end());
  } catch (const std::exception& e) {
    throw Error(fmt::format(
        "rank {}: waiting for rank 0's next message failed (rank 0 died, or sent nothing for {} "
        "s): {}",
        rank_, seconds_text(timeout), error_text(e)));
  }
}

void ProcessGroupCollective::wait_until_read(std::chrono::milliseconds timeout) {
  SB_CHECK(rank_ == 0, "only rank 0 waits for its messages to be read");
  if (posts_ == 0) return;
  std::vector<std::string> receipts;
  for (int r = 1; r < world_size_; ++r)
    receipts.push_back(fmt::format("swavbench/post/{}/read/{}", posts_ - 1, r));
  try {
    impl_->store->wait(receipts, timeout);
  } catch (const std::exception& e) {
    throw Error(fmt::format("rank 0: the other ranks did not confirm message {} within {} s: {}",
                            posts_ - 1, seconds_text(timeout), error_text(e)));
  }
}

int free_tcp_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw Error(fmt::format("free_tcp_port: socket: {}", std::strerror(errno)));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;  // the kernel picks a free port
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const int saved = errno;
    ::close(fd);
    throw Error(fmt::format("free_tcp_port: cannot bind 127.0.0.1:0: {}", std::strerror(saved)));
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

namespace {

// argv[0] resolved against PATH in the parent: after fork() only async-signal-safe calls are
// allowed in the child of a multi-threaded parent (LibTorch starts thread pools), and execvp may
// allocate.
std::string resolve_executable(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const std::string path = get_env("PATH").value_or("/usr/local/bin:/usr/bin:/bin");
  size_t start = 0;
  while (start <= path.size()) {
    const size_t end = std::min(path.find(':', start), path.size());
    const std::string dir = end > start ? path.substr(start, end - start) : ".";
    const std::string candidate = dir + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  throw InputError(fmt::format("cannot launch ranks: '{}' not found in PATH", name));
}

int exit_code_of(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

}  // namespace

int spawn_local_ranks(int nproc, const std::vector<std::string>& argv, int master_port,
                      std::chrono::milliseconds grace, std::vector<int>* exit_codes,
                      std::vector<int>* child_pids) {
  SB_INPUT_CHECK(nproc >= 1, "--nproc must be at least 1, got {}", nproc);
  SB_INPUT_CHECK(master_port >= 1 && master_port <= 65535, "invalid master port {}", master_port);
  SB_CHECK(!argv.empty(), "spawn_local_ranks needs a command");
  const std::string executable = resolve_executable(argv[0]);

  // Everything the children need is built here, before fork (see resolve_executable).
  const char* const kOverridden[] = {
      "RANK=", "WORLD_SIZE=", "LOCAL_RANK=", "MASTER_ADDR=", "MASTER_PORT=", "LOCAL_WORLD_SIZE="};
  std::vector<std::string> base_env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    const std::string text(*entry);
    const bool overridden = std::any_of(std::begin(kOverridden), std::end(kOverridden),
                                        [&](const char* key) { return text.rfind(key, 0) == 0; });
    if (!overridden) base_env.push_back(text);
  }
  // Like torchrun, keep N ranks from each starting one thread per core.
  if (!get_env("OMP_NUM_THREADS")) {
    const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    base_env.push_back(fmt::format("OMP_NUM_THREADS={}", std::max(1u, cores / nproc)));
  }
  std::vector<std::vector<std::string>> envs(nproc, base_env);
  std::vector<std::vector<char*>> envps(nproc);
  for (int r = 0; r < nproc; ++r) {
    envs[r].push_back(fmt::format("RANK={}", r));
    envs[r].push_back(fmt::format("WORLD_SIZE={}", nproc));
    envs[r].push_back(fmt::format("LOCAL_RANK={}", r));
    envs[r].push_back(fmt::format("LOCAL_WORLD_SIZE={}", nproc));
    envs[r].push_back("MASTER_ADDR=127.0.0.1");
    envs[r].push_back(fmt::format("MASTER_PORT={}", master_port));
    for (auto& entry : envs[r]) envps[r].push_back(entry.data());
    envps[r].push_back(nullptr);
  }
  std::vector<std::string> args(argv);
  std::vector<char*> argp;
  for (auto& arg : args) argp.push_back(arg.data());
  argp.push_back(nullptr);

  const pid_t parent = ::getpid();
  std::vector<pid_t> pids;
  for (int r = 0; r < nproc; ++r) {
    const pid_t pid = ::fork();
    if (pid == 0) {
#ifdef __linux__
      // Ranks must not outlive a launcher that is killed: they would hold the port and the GPU.
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (::getppid() != parent) ::_exit(128 + SIGTERM);
#endif
      // An ignored SIGPIPE (see ignore_sigpipe) would survive exec; ranks start from the default.
      ::signal(SIGPIPE, SIG_DFL);
      ::execve(executable.c_str(), argp.data(), envps[r].data());
      static const char kMessage[] = "swavbench: exec of a rank failed\n";
      [[maybe_unused]] const ssize_t ignored = ::write(2, kMessage, sizeof(kMessage) - 1);
      ::_exit(127);
    }
    if (pid < 0) {
      const int saved = errno;
      for (const pid_t started : pids) ::kill(started, SIGKILL);
      for (const pid_t started : pids) ::waitpid(started, nullptr, 0);
      throw Error(fmt::format("cannot start rank {}: fork: {}", r, std::strerror(saved)));
    }
    pids.push_back(pid);
  }

  // Polls rather than blocking in waitpid so that the grace period and the kills run on time,
  // and reaps only these children (not others the caller may own).
  using Clock = std::chrono::steady_clock;
  std::vector<int> codes(nproc, -1);
  int running = nproc;
  int first_failure = 0;
  Clock::time_point failed_at, terminated_at;
  bool terminated = false, killed = false;
  while (running > 0) {
    for (int r = 0; r < nproc; ++r) {
      if (codes[r] >= 0) continue;
      int status = 0;
      pid_t done = ::waitpid(pids[r], &status, WNOHANG);
      while (done < 0 && errno == EINTR) done = ::waitpid(pids[r], &status, WNOHANG);
      if (done == 0) continue;
      codes[r] = done < 0 ? 1 : exit_code_of(status);  // < 0: reaped elsewhere, status unknown
      --running;
      if (codes[r] != 0 && first_failure == 0) {
        first_failure = codes[r];
        failed_at = Clock::now();
      }
    }
    if (running == 0) break;
    const auto now = Clock::now();
    if (first_failure != 0 && !terminated && now - failed_at >= grace) {
      for (int r = 0; r < nproc; ++r) {
        if (codes[r] < 0) ::kill(pids[r], SIGTERM);
      }
      terminated = true;
      terminated_at = now;
    }
    if (terminated && !killed && now - terminated_at >= std::chrono::seconds(5)) {
      for (int r = 0; r < nproc; ++r) {
        if (codes[r] < 0) ::kill(pids[r], SIGKILL);
      }
      killed = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (exit_codes != nullptr) *exit_codes = codes;
  if (child_pids != nullptr) child_pids->assign(pids.begin(), pids.end());
  return first_failure;
}

}  // namespace swavbench
