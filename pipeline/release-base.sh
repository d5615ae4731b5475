#!/usr/bin/env bash
# Prints the commit the Release stage diffs against: the manifests changed between it
# and HEAD are released. Run from the clone of the commit being released.
#
# Why the last *successful* execution's commit and not HEAD~1: a push can hold several
# commits (HEAD~1 would miss manifests changed in the earlier ones), and an execution
# that failed before its releases ran (tests, deploy) or was stopped released nothing,
# so its manifests are still due. The consequence: after a release rolls back, the
# pipeline stays failed and the next push releases that manifest again as it is then;
# fix or revert the manifest in that push (docs/pipeline.md).
#
#   RELEASE_FROM   a commit (the pipeline variable ReleaseFrom, set when starting an
#                  execution by hand), or "auto"/empty for the rule above
#   PIPELINE_NAME  the pipeline whose executions are read (auto only)
#
# auto, in order:
#   1. the source revision of the newest Succeeded execution, when it is an ancestor
#      of HEAD;
#   2. if that commit is known but not an ancestor (the branch was rewritten), the
#      merge base of the two;
#   3. if it is not in the clone at all, HEAD~1, with a warning;
#   4. no Succeeded execution yet (the run that follows creating the pipeline): HEAD,
#      i.e. nothing is released; set ReleaseFrom to release from an older commit.
set -euo pipefail

warn() { echo "release-base: $*" >&2; }

head="$(git rev-parse HEAD)"
from="${RELEASE_FROM:-auto}"

if [[ "$(git rev-parse --is-shallow-repository)" == "true" ]]; then
  git fetch --quiet --unshallow 2>/dev/null || warn "shallow clone and --unshallow failed: older commits may be missing"
fi

if [[ -n "$from" && "$from" != "auto" ]]; then
  if ! commit="$(git rev-parse --verify --quiet "${from}^{commit}")"; then
    warn "ReleaseFrom=${from} is not a commit of this repository"
    exit 2
  fi
  warn "ReleaseFrom=${from}: releasing manifests changed since ${commit}"
  echo "$commit"
  exit 0
fi

: "${PIPELINE_NAME:?PIPELINE_NAME is not set}"
# Newest first; the running execution is InProgress, so it is never its own base.
previous="$(aws codepipeline list-pipeline-executions --pipeline-name "$PIPELINE_NAME" \
  --max-items 1000 \
  --query "pipelineExecutionSummaries[?status=='Succeeded'] | [0].sourceRevisions[0].revisionId" \
  --output text)"

if [[ -z "$previous" || "$previous" == "None" || "$previous" == "null" ]]; then
  warn "no successful execution of ${PIPELINE_NAME} among its last 1000: nothing is released this time (set ReleaseFrom)"
  echo "$head"
  exit 0
fi

if ! git cat-file -e "${previous}^{commit}" 2>/dev/null; then
  warn "${previous} (last successful execution) is not in this clone (history rewritten?): using HEAD~1"
  git rev-parse --verify --quiet "HEAD~1" || echo "$head"
  exit 0
fi

if git merge-base --is-ancestor "$previous" "$head"; then
  echo "$previous"
  exit 0
fi

base="$(git merge-base "$previous" "$head" || true)"
if [[ -z "$base" ]]; then
  warn "${previous} shares no history with HEAD: using HEAD~1"
  git rev-parse --verify --quiet "HEAD~1" || echo "$head"
  exit 0
fi
warn "${previous} is not an ancestor of HEAD (history rewritten): using the merge base ${base}"
echo "$base"
