// `flashnas admin`: operator commands that act on the database directly, never
// through the API: create an API key (printed once, alone on stdout), and register
// a model or dataset file from an allow-listed directory into the storage area.
#include <spdlog/spdlog.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

#include "app/secret_token.hpp"
#include "cli/commands.hpp"
#include "common/flags.hpp"
#include "engine/util/error.hpp"
#include "engine/util/sha256.hpp"
#include "app/file_catalog.hpp"
#include "store/database.hpp"
#include "store/project_repository.hpp"

namespace flashnas::cli {
namespace {
namespace fs = std::filesystem;

const char* kUsage =
    "usage: flashnas admin create-key --project P --scopes read,submit,admin [--label L]\n"
    "       flashnas admin register-model PATH --project P [--name N] [--format gguf|safetensors]\n"
    "       flashnas admin register-dataset PATH --project P [--name N]\n"
    "common flags: --database URL (default $FLASHNAS_DATABASE_URL)\n"
    "register flags: --storage DIR (default $FLASHNAS_STORAGE_DIR),\n"
    "                --allow-dir DIR (default $FLASHNAS_ALLOW_DIR): PATH must lie inside it\n";

std::optional<std::string> flag_or_env(const Flags& flags, const std::string& flag, const char* env) {
  if (auto v = flags.get(flag)) return v;
  if (const char* e = std::getenv(env); e && *e) return std::string(e);
  return std::nullopt;
}

std::vector<std::string> split_scopes(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  for (std::string s; std::getline(ss, s, ',');) {
    if (s.empty()) throw InvalidInput("--scopes has an empty entry", "--scopes");
    out.push_back(s);
  }
  if (out.empty()) throw InvalidInput("--scopes needs at least one of read, submit, admin", "--scopes");
  return out;
}

int create_key(const Args& args) {
  const Flags flags(args, {{"project", true, ""}, {"scopes", true, ""}, {"label", true, ""},
                           {"database", true, ""}});
  const std::string project = flags.require("project");
  const auto scopes = split_scopes(flags.require("scopes"));
  for (const auto& s : scopes) {
    const auto& known = store::key_scopes();
    if (std::find(known.begin(), known.end(), s) == known.end()) {
      throw InvalidInput(fmt::format("unknown scope '{}' (read, submit, admin)", s), "--scopes");
    }
  }
  const std::string key = app::new_secret_token("fnk_");
  store::ConnectionPool pool(store::database_url(flags.get("database")), {.size = 1});
  pool.transact([&](pqxx::transaction_base& tx) {
    const auto p = store::project_ensure(tx, project);
    store::api_key_create(tx, {p.id, sha256_hex(key), app::token_prefix_of(key), scopes,
                               flags.get("label").value_or("")});
  });
  // The key alone on stdout (scripts capture it); it cannot be shown again.
  std::printf("%s\n", key.c_str());
  std::fprintf(stderr, "created a key for project '%s' with scopes %s (shown once; stored hashed)\n",
               project.c_str(), flags.require("scopes").c_str());
  return 0;
}

// The file at `path`, which must resolve (symlinks included) to a regular file
// inside the allowed directory.
std::string read_allowed_file(const std::string& path, const Flags& flags) {
  const auto allow = flag_or_env(flags, "allow-dir", "FLASHNAS_ALLOW_DIR");
  if (!allow) throw InvalidInput("name the allowed directory with --allow-dir or FLASHNAS_ALLOW_DIR", "--allow-dir");
  std::error_code ec;
  const fs::path root = fs::canonical(*allow, ec);
  if (ec || !fs::is_directory(root)) throw InvalidInput("--allow-dir is not a directory: " + *allow, "--allow-dir");
  const fs::path file = fs::canonical(path, ec);
  if (ec) throw InvalidInput("cannot resolve " + path, "PATH");
  const auto rel = file.lexically_relative(root);
  if (rel.empty() || *rel.begin() == "..") {
    throw InvalidInput(fmt::format("{} is outside the allowed directory {}", file.string(), root.string()),
                       "PATH");
  }
  if (!fs::is_regular_file(file)) throw InvalidInput(file.string() + " is not a regular file", "PATH");
  std::ifstream in(file, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) throw Error("cannot read " + file.string());
  return bytes;
}

int register_file(const Args& args, bool model) {
  if (args.empty() || args[0].rfind("--", 0) == 0) throw InvalidInput("give the PATH of the file", "PATH");
  const std::string path = args[0];
  std::vector<FlagSpec> spec = {{"project", true, ""}, {"name", true, ""}, {"database", true, ""},
                                {"storage", true, ""}, {"allow-dir", true, ""}};
  if (model) spec.push_back({"format", true, ""});
  const Flags flags(Args(args.begin() + 1, args.end()), spec);
  const std::string project = flags.require("project");
  const std::string storage = app::storage_dir(flags.get("storage"));
  const std::string bytes = read_allowed_file(path, flags);
  const std::string name = flags.get("name").value_or(fs::path(path).filename().string());
  std::string format = "text";
  if (model) {
    const std::string ext = fs::path(path).extension().string();
    format = flags.get("format").value_or(ext == ".gguf" ? "gguf" : ext == ".tar" ? "safetensors" : "");
    if (format.empty()) throw InvalidInput("cannot tell the format from the name; pass --format", "--format");
  }

  store::ConnectionPool pool(store::database_url(flags.get("database")), {.size = 1});
  const auto found = pool.transact([&](pqxx::transaction_base& tx) { return store::project_find(tx, project); });
  if (!found) throw InvalidInput("no project '" + project + "' (create a key for it first)", "--project");
  app::FileCatalog catalog(pool, app::FileStorage(storage));
  const auto stored = model ? catalog.add_model(found->id, name, format, bytes)
                            : catalog.add_dataset(found->id, name, bytes);
  std::printf("%s\n", nlohmann::json(stored).dump().c_str());
  return 0;
}

}  // namespace

int run_admin(const Args& args) {
  if (args.empty() || args[0] == "--help") {
    std::fputs(kUsage, args.empty() ? stderr : stdout);
    return args.empty() ? 2 : 0;
  }
  const Args rest(args.begin() + 1, args.end());
  if (args[0] == "create-key") return create_key(rest);
  if (args[0] == "register-model") return register_file(rest, true);
  if (args[0] == "register-dataset") return register_file(rest, false);
  throw InvalidInput("unknown admin command '" + args[0] + "' (create-key, register-model, register-dataset)",
                     "admin");
}

}  // namespace flashnas::cli
