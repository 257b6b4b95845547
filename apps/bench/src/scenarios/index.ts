import type { Scenario } from "../harness.js";
import { durabilityScenario } from "./durability.js";
import { etcdStoreScenario } from "./etcdStore.js";
import { failoverScenario } from "./failover.js";
import { failoverFaultsScenario } from "./failoverFaults.js";
import { flowBucketScenario } from "./flowBucket.js";
import { ingestScenario } from "./ingest.js";
import { mastershipScenario } from "./mastership.js";
import { messagingScenario } from "./messaging.js";
import { replicationBytesScenario } from "./replicationBytes.js";
import { scaleScenario } from "./scale.js";
import { serializersScenario } from "./serializers.js";
import { storeScenario } from "./store.js";
import { storeCostScenario } from "./storeCost.js";
import { writeScalingScenario } from "./writeScaling.js";

/** Every scenario, in the order `pnpm bench` runs them. */
export const scenarios: readonly Scenario[] = [
  serializersScenario,
  mastershipScenario,
  messagingScenario,
  flowBucketScenario,
  storeScenario,
  etcdStoreScenario,
  replicationBytesScenario,
  failoverScenario,
  storeCostScenario,
  writeScalingScenario,
  scaleScenario,
  ingestScenario,
  durabilityScenario,
  failoverFaultsScenario,
];
