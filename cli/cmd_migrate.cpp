// `flashnas migrate`: applies the pending database migrations (migrations/*.sql)
// in order, each in its own transaction; safe to run twice or concurrently.
#include <cstdio>

#include "cli/commands.hpp"
#include "common/flags.hpp"
#include "store/database.hpp"
#include "store/migrate.hpp"

namespace flashnas::cli {

int run_migrate(const Args& args) {
  const std::vector<FlagSpec> spec = {
      {"database", true, "PostgreSQL URL (default: $FLASHNAS_DATABASE_URL)"},
      {"migrations", true, "directory of NNNN_name.sql files (default: this source tree's migrations/)"},
      {"status", false, "only report the applied and latest versions (exit 3 when behind)"},
      {"help", false, "show this help"},
  };
  const Flags flags(args, spec);
  if (print_help_if_asked(flags, spec, "flashnas migrate [flags]")) return 0;
  const std::string url = store::database_url(flags.get("database"));
  const auto files = store::load_migrations(store::migrations_dir(flags.get("migrations")));
  if (flags.has("status")) {
    auto conn = store::connect(url);
    pqxx::read_transaction tx(*conn);
    const auto status = store::schema_status(tx, files);
    std::printf("schema version %d of %d (%s)\n", status.applied_version, status.latest_version,
                status.current() ? "current" : "behind");
    return status.current() ? 0 : 3;
  }
  const auto report = store::migrate(url, files);
  for (const auto& name : report.applied) std::fprintf(stderr, "applied %s\n", name.c_str());
  std::printf("schema version %d (%zu applied now)\n", report.version, report.applied.size());
  return 0;
}

}  // namespace flashnas::cli
