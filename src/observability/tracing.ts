/**
 * OpenTelemetry traces through @effect/opentelemetry, exported over OTLP/HTTP
 * when the standard variables ask for it: OTEL_EXPORTER_OTLP_ENDPOINT (or
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT), OTEL_SERVICE_NAME (default
 * "parrhesia"), OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG (a ratio alone
 * means parent-based trace-id ratio sampling).
 *
 * Unset, nothing is traced and the hot path does not build spans at all: the
 * helpers here return the effect they are given unchanged.
 */
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http"
import { resourceFromAttributes } from "@opentelemetry/resources"
import {
  AlwaysOnSampler,
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  type Sampler
} from "@opentelemetry/sdk-trace-base"
import * as OtelTracer from "@effect/opentelemetry/OtelTracer"
import { Context, Effect, Exit, Layer, Option } from "effect"
import { VERSION } from "../http/nip11.ts"

let enabled = false

/** Whether spans are being recorded in this process. */
export const tracingEnabled = (): boolean => enabled

/** Wall-clock time in nanoseconds, as spans take it. */
export const nowNanos = (): bigint => BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6))

/** `self` in a child span named `name` (unchanged when tracing is off). */
export const span =
  (name: string, attributes?: Record<string, unknown>) =>
  <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    enabled ? Effect.withSpan(self, name, attributes === undefined ? undefined : { attributes }) : self

/** Sets an attribute on the current span (nothing when tracing is off). */
export const annotate = (key: string, value: unknown): Effect.Effect<void> => (enabled ? Effect.annotateCurrentSpan(key, value) : Effect.void)

/**
 * A server span for one client message, from the moment its frame arrived,
 * with the frame's decoding as its first child; `self` runs inside it.
 */
export const messageSpan =
  (name: string, receivedAt: bigint, decodedAt: bigint, attributes: Record<string, unknown>) =>
  <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    enabled
      ? Effect.flatMap(Effect.tracer, (tracer) => {
          const parent = tracer.span({ name, parent: Option.none(), annotations: Context.empty(), links: [], startTime: receivedAt, kind: "server", root: true, sampled: true })
          for (const [k, v] of Object.entries(attributes)) parent.attribute(k, v)
          tracer
            .span({ name: "decode", parent: Option.some(parent), annotations: Context.empty(), links: [], startTime: receivedAt, kind: "internal", root: false, sampled: parent.sampled })
            .end(decodedAt, Exit.void)
          return self.pipe(
            Effect.withParentSpan(parent),
            Effect.onExit((exit) => Effect.sync(() => parent.end(nowNanos(), exit)))
          )
        })
      : self

const samplerFromEnv = (env: Readonly<Record<string, string | undefined>>): Sampler | undefined => {
  const name = env["OTEL_TRACES_SAMPLER"]
  const arg = env["OTEL_TRACES_SAMPLER_ARG"]
  // With OTEL_TRACES_SAMPLER set, the SDK reads both variables itself.
  if (name !== undefined && name !== "") return undefined
  if (arg === undefined || arg === "") return new ParentBasedSampler({ root: new AlwaysOnSampler() })
  const ratio = Number(arg)
  if (!Number.isFinite(ratio) || ratio < 0 || ratio > 1) throw new Error(`OTEL_TRACES_SAMPLER_ARG must be a ratio from 0 to 1, got ${JSON.stringify(arg)}`)
  return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) })
}

/** The Effect tracer backed by OpenTelemetry, exporting over OTLP/HTTP; no layer at all without an endpoint. */
export const tracingLayerFromEnv = (env: Readonly<Record<string, string | undefined>>): Layer.Layer<never> => {
  const endpoint = env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] || env["OTEL_EXPORTER_OTLP_ENDPOINT"]
  if (endpoint === undefined || endpoint === "") return Layer.empty
  const provider = Layer.effect(
    OtelTracer.OtelTracerProvider,
    Effect.acquireRelease(
      Effect.sync(() => {
        const sampler = samplerFromEnv(env)
        const p = new BasicTracerProvider({
          resource: resourceFromAttributes({ "service.name": env["OTEL_SERVICE_NAME"] || "parrhesia", "service.version": VERSION }),
          ...(sampler === undefined ? {} : { sampler }),
          // The exporter reads the OTEL_EXPORTER_OTLP_* variables (endpoint, headers, timeout) itself.
          spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter(), { scheduledDelayMillis: 1000 })]
        })
        enabled = true
        return p
      }),
      // Flushes what is batched on shutdown.
      (p) =>
        Effect.promise(() => p.shutdown()).pipe(
          Effect.andThen(Effect.sync(() => void (enabled = false))),
          Effect.timeoutOrElse({ duration: "5 seconds", orElse: () => Effect.void })
        )
    )
  )
  // Installs the Effect tracer (a reference, so the layer's output type names only OtelTracer).
  return OtelTracer.layer.pipe(Layer.provide(provider)) as unknown as Layer.Layer<never>
}
