// The dashboard in a real browser (headless Debian chromium over WebDriver),
// served by a real API server on a real PostgreSQL: a wrong key is refused, the
// jobs list shows the key's project's jobs, a finished job's Pareto plot holds one
// point per evaluated trial and exactly the API's frontier, the trials table
// sorts, and a job submitted during the test appears and fills in without a
// reload. Screenshots go to build/test-artifacts/ (CI keeps them).
#include <gtest/gtest.h>

#include <filesystem>

#include "tests/service/api_fixture.hpp"
#include "tests/web/webdriver.hpp"

namespace flashnas {
namespace {

using nlohmann::json;

class Dashboard : public test::ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    key_ = make_key("alpha", {"read", "submit"});
    assets_ = upload_assets(key_);
    browser_ = std::make_unique<test::WebDriver>();
    std::filesystem::create_directories(artifacts_);
  }
  void TearDown() override {
    browser_.reset();
    ApiTest::TearDown();
  }
  std::string page(const std::string& hash = "") const {
    return "http://127.0.0.1:" + std::to_string(port_) + "/?poll=150" + hash;
  }
  int64_t submit(const json& body) {
    const auto r = post_json("/v1/jobs", key_, body);
    EXPECT_EQ(r.status, 201) << r.body;
    return r.json().at("id").get<int64_t>();
  }
  void sign_in(const std::string& key) {
    browser_->run("document.querySelector('#key').value = " + json(key).dump() +
                  "; document.querySelector('#sign-in').click(); return true;");
  }
  std::string frontier_ids(int64_t job) {
    std::vector<int64_t> ids;
    const json frontier = get("/v1/jobs/" + std::to_string(job) + "/frontier", key_).json();
    for (const auto& p : frontier.at("points")) {
      ids.push_back(p.at("trial_id").get<int64_t>());
    }
    std::sort(ids.begin(), ids.end());
    std::string out;
    for (int64_t id : ids) {
      if (!out.empty()) out += ',';
      out += std::to_string(id);
    }
    return out;
  }

  std::string key_;
  std::array<int64_t, 3> assets_{};
  std::unique_ptr<test::WebDriver> browser_;
  const std::filesystem::path artifacts_ = std::filesystem::path(FLASHNAS_BINARY_DIR) / "test-artifacts";
};

// NLL falls and TTFT rises with the trial's ordinal, except trials 3 and 6,
// which are dominated: the frontier is every other trial.
const std::vector<double> kNll = {3.0, 2.8, 2.6, 2.9, 2.2, 2.0, 2.5, 1.8};
const std::vector<double> kTtft = {1.0, 1.2, 1.4, 1.6, 1.8, 2.0, 2.2, 2.4};

TEST_F(Dashboard, AWrongKeyIsRefusedAndTheRightOneShowsTheProjectsJobs) {
  const int64_t job = submit(sweep_body(assets_, 3));
  browser_->go(page());
  ASSERT_TRUE(browser_->wait_for("return !document.querySelector('#sign-in-view').hidden;"));
  sign_in("fnk_not_a_key");
  ASSERT_TRUE(browser_->wait_for("return document.querySelector('#sign-in-error').textContent.includes('refused');"));
  EXPECT_EQ(browser_->run("return document.querySelector('#jobs-view').hidden;"), true);

  sign_in(key_);
  ASSERT_TRUE(browser_->wait_for("return document.querySelectorAll('#jobs tbody tr').length === 1;"))
      << browser_->run("return document.body.innerText;");
  EXPECT_EQ(browser_->run("return document.querySelector('#jobs tbody tr').dataset.jobId;"), std::to_string(job));
  // Another project's key sees none of it.
  const std::string other = make_key("beta", {"read"});
  browser_->run("sessionStorage.clear(); return true;");
  browser_->go(page());
  sign_in(other);
  ASSERT_TRUE(browser_->wait_for("return !document.querySelector('#jobs-view').hidden;"));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(browser_->run("return document.querySelectorAll('#jobs tbody tr').length;"), 0);
}

TEST_F(Dashboard, AFinishedJobsPlotHasOnePointPerTrialAndTheApisFrontier) {
  const int64_t job = submit(sweep_body(assets_, 8));
  settle(kNll, kTtft);
  ASSERT_EQ(get("/v1/jobs/" + std::to_string(job), key_).json().at("state"), "succeeded");
  const std::string expected_frontier = frontier_ids(job);
  ASSERT_EQ(std::count(expected_frontier.begin(), expected_frontier.end(), ',') + 1, 6)
      << expected_frontier;

  browser_->go(page());
  sign_in(key_);
  ASSERT_TRUE(browser_->wait_for("return document.querySelectorAll('#jobs tbody tr').length === 1;"));
  browser_->go(page("#/jobs/" + std::to_string(job)));
  ASSERT_TRUE(browser_->wait_for("return document.querySelector('#pareto').dataset.points === '8';"))
      << browser_->run("return document.querySelector('#pareto').dataset.points;");
  ASSERT_TRUE(browser_->wait_for("return document.querySelector('#pareto').dataset.frontier === " +
                                 json(expected_frontier).dump() + ";"))
      << browser_->run("return document.querySelector('#pareto').dataset.frontier;");
  EXPECT_EQ(browser_->run("return document.querySelectorAll('#trials tbody tr').length;"), 8);
  // Sorting by eval NLL (click the header) puts the best trial first; again, last.
  browser_->run("document.querySelector('#trials th[data-key=eval_nll]').click(); return true;");
  EXPECT_EQ(browser_->run("return document.querySelector('#trials tbody tr td:nth-child(8)').textContent;"), "1.800");
  browser_->run("document.querySelector('#trials th[data-key=eval_nll]').click(); return true;");
  EXPECT_EQ(browser_->run("return document.querySelector('#trials tbody tr td:nth-child(8)').textContent;"), "3.000");
  // Hovering over a point names its trial.
  browser_->run(R"(const c = document.querySelector('#pareto'), p = c._hit[0], r = c.getBoundingClientRect();
    c.dispatchEvent(new MouseEvent('mousemove', {clientX: r.left + p.cx * r.width / c.width,
                                                 clientY: r.top + p.cy * r.height / c.height}));
    return true;)");
  EXPECT_EQ(browser_->run("return document.querySelector('#tooltip').textContent.startsWith('trial ');"), true);
  browser_->screenshot((artifacts_ / "dashboard-job.png").string());

  // 2,000 more trials (copies of one with other figures): every one is plotted and
  // listed; the redraw times go to the test's output (figures in bench/README.md).
  const json big = browser_->run(R"(const s = jobState, base = [...s.trials.values()][0];
    for (let i = 0; i < 2000; ++i) {
      const t = structuredClone(base);
      t.id = 100000 + i; t.ordinal = 1000 + i;
      t.metrics = {...base.metrics, eval_nll: 2 + (i % 97) / 50, prefill_ms: 1 + (i % 89) / 40};
      s.trials.set(t.id, t);
    }
    const t0 = performance.now(); drawPareto(); const t1 = performance.now(); renderTrials(); const t2 = performance.now();
    return {draw_ms: t1 - t0, table_ms: t2 - t1, points: document.querySelector('#pareto').dataset.points,
            rows: document.querySelectorAll('#trials tbody tr').length};)");
  EXPECT_EQ(big.at("points"), "2008");
  EXPECT_EQ(big.at("rows"), 2008);
  RecordProperty("redraw_2008_trials", big.dump());
  std::printf("dashboard with 2,008 trials: %s\n", big.dump().c_str());
}

TEST_F(Dashboard, AJobSubmittedWhileWatchingAppearsAndFillsInWithoutAReload) {
  browser_->go(page());
  sign_in(key_);
  ASSERT_TRUE(browser_->wait_for("return !document.querySelector('#jobs-view').hidden;"));
  const int64_t job = submit(sweep_body(assets_, 8));
  ASSERT_TRUE(browser_->wait_for("const r = document.querySelector('#jobs tbody tr'); "
                                 "return !!r && r.textContent.includes('queued');"));
  browser_->run("document.querySelector('#jobs tbody tr a').click(); return true;");
  ASSERT_TRUE(browser_->wait_for("return document.querySelectorAll('#trials tbody tr').length === 8;"));
  EXPECT_EQ(browser_->run("return document.querySelector('#pareto').dataset.points;"), "0");
  browser_->run("window.marker = 'no reload'; return true;");
  settle(kNll, kTtft);
  ASSERT_TRUE(browser_->wait_for("return document.querySelector('#pareto').dataset.points === '8';"));
  EXPECT_TRUE(browser_->wait_for("return document.querySelector('#job-status').textContent.includes('succeeded');"));
  EXPECT_EQ(browser_->run("return window.marker;"), "no reload");
  EXPECT_EQ(browser_->run("return document.querySelector('#pareto').dataset.frontier;"), frontier_ids(job));
  browser_->go(page());
  ASSERT_TRUE(browser_->wait_for("const r = document.querySelector('#jobs tbody tr'); "
                                 "return !!r && r.textContent.includes('succeeded');"));
  browser_->screenshot((artifacts_ / "dashboard-jobs.png").string());
}

}  // namespace
}  // namespace flashnas

namespace flashnas {
namespace {

// Not a check but the docs' pictures: the jobs list and a finished search job's page
// on a running service (scripts/docs-screenshots runs scripts/demo --serve and then
// this with FLASHNAS_DASHBOARD_URL, _KEY and _JOB set; skipped otherwise).
TEST(DashboardOnAService, ScreenshotsOfAFinishedSearchForTheDocs) {
  const char* url = std::getenv("FLASHNAS_DASHBOARD_URL");
  const char* key = std::getenv("FLASHNAS_DASHBOARD_KEY");
  const char* job = std::getenv("FLASHNAS_DASHBOARD_JOB");
  const char* out = std::getenv("FLASHNAS_SCREENSHOT_DIR");
  if (!url || !key || !job || !out) GTEST_SKIP() << "needs FLASHNAS_DASHBOARD_URL, _KEY, _JOB and FLASHNAS_SCREENSHOT_DIR";
  test::WebDriver browser;
  browser.go(std::string(url) + "/");
  browser.run("document.querySelector('#key').value = " + json(key).dump() +
              "; document.querySelector('#sign-in').click(); return true;");
  ASSERT_TRUE(browser.wait_for("return document.querySelectorAll('#jobs tbody tr').length > 0;"));
  browser.screenshot(std::string(out) + "/dashboard-jobs.png");
  browser.go(std::string(url) + "/#/jobs/" + job);
  ASSERT_TRUE(browser.wait_for("return Number(document.querySelector('#pareto').dataset.points) > 0 && "
                               "Number(document.querySelector('#latency-model').dataset.points) > 0;"));
  std::this_thread::sleep_for(std::chrono::milliseconds(800));  // the progress bar's transition
  browser.screenshot(std::string(out) + "/dashboard-search-job.png");
}

}  // namespace
}  // namespace flashnas
