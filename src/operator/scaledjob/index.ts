// The ScaledJob controller: one Job per unit of work, with KEDA's scaling strategies.
export { startScaledJobController, type ScaledJobController, type ScaledJobControllerOptions } from './controller.js';
export { buildJob, jobsBeyondHistory, jobsOfOtherGenerations, jobPhase, isJobPending, countJobs, rolloutOf, type JobObject, type PodObject } from './jobs.js';
