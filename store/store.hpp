// The store's public surface in one include: connections and the pool, the
// migrations runner, records, repositories and the task queue.
#pragma once

#include "store/database.hpp"
#include "store/device_repository.hpp"
#include "store/event_repository.hpp"
#include "store/file_repository.hpp"
#include "store/job_repository.hpp"
#include "store/checkpoint_repository.hpp"
#include "store/frontier_repository.hpp"
#include "store/latency_repository.hpp"
#include "store/migrate.hpp"
#include "store/project_repository.hpp"
#include "store/records.hpp"
#include "store/task_queue.hpp"
#include "store/trial_repository.hpp"
