// Runs IAM simulations with @cloud-copilot/iam-simulate (an evaluator we did not write).
//
//   node tools/iam_sim/simulate.mjs < simulations.json > results.jsonl      # batch
//   node tools/iam_sim/simulate.mjs --lines                                 # one per line
//
// Batch mode: stdin is a JSON array; each item
//   {"id": "...",
//    "identityPolicies": [{"name": "...", "policy": {...}}],
//    "resourcePolicy": {...} | null,                 // e.g. a KMS key policy
//    "dataGap": "why" | null,                        // see below
//    "keepContextKeys": {"keys": [...], "reason": "why"} | null,   // see below
//    "request": {"principal": "arn:...", "action": "svc:Action", "resource": "arn:..." | "*",
//                "account": "123456789012", "context": {"key": "value" | ["v", ...]}}}
// stdout: one JSON object per line, in input order:
//   {"id", "decision": "Allowed" | "ExplicitlyDenied" | "ImplicitlyDenied" | null,
//    "errors": null | {...the simulator's validation errors...},
//    "explanation": ["...", ...], "ignoredContextKeys": [...], "resourceType": "...",
//    "unvalidated": "why" (only when evaluated without full validation, below)}
// A request the simulator cannot evaluate (unknown action, resource ARN of no resource type of
// the action, invalid policy, a wildcard resource for an action that has resource types) has
// decision null and its errors: never a silent "denied". Exit status 0 unless stdin is unreadable.
//
// Line mode (--lines), for a long-lived caller such as the e2e tier's enforcing AWS proxy: each
// line of stdin is one simulation object (the item above); each is answered, in order, by one
// result line as soon as it is evaluated, and stdout is flushed per line. An unparsable line is
// answered with decision null and its error. The process ends when stdin closes.
//
// dataGap: the caller knows the simulator's bundled action data lacks the request's resource type
// (iam-data merges the classic and v2 Elastic Load Balancing pages, so elasticloadbalancing:AddTags
// knows only the classic `loadbalancer` type, not `targetgroup` or `listener/net`). Only then, and
// only when the validated run fails with exactly `no.resource.types` (the policies and the action
// passed validation before that check), the request is evaluated by the same core engine without
// resource-type validation, and the result says so (`unvalidated`). A gap declared where the data
// has the type runs validated as usual (`dataGapUnused: true`).
//
// keepContextKeys: {"keys": [...], "reason": "why"}: context keys the caller knows AWS sets but the
// simulator drops as not applicable (its match of variable keys such as
// kms:EncryptionContext:${EncryptionContextKey} splits at '/' only). Only if the validated run
// dropped one of them, the request is evaluated again by the core engine with the validated
// context plus these keys, and the result says so (`unvalidated`).
import { getDenialReasons, getGrantReasons, runSimulation } from '@cloud-copilot/iam-simulate'

const asList = (value) => (value === undefined ? [] : Array.isArray(value) ? value : [value])

function readStdin() {
  return new Promise((resolve, reject) => {
    const chunks = []
    process.stdin.on('data', (chunk) => chunks.push(chunk))
    process.stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    process.stdin.on('error', reject)
  })
}

function statementName(policyType, policyId, statementId, statementIndex) {
  const statement = statementId ? `Sid ${statementId}` : `statement #${statementIndex}`
  return `${policyType}${policyId ? ` policy ${policyId}` : ' policy'}, ${statement}`
}

function conditionText(condition) {
  const wanted = asList(condition.values).map((v) => v.value)
  const had = condition.resolvedConditionKeyValue
  const why = condition.failedBecauseMissing
    ? 'key absent from the request'
    : condition.failedBecauseArray
      ? 'request value is a list'
      : condition.missingOperator
        ? 'unknown operator'
        : 'no value matched'
  return `${condition.operator} ${condition.conditionKeyValue} ${JSON.stringify(wanted)}: ${why}${had ? ` (${had})` : ''}`
}

// Why a statement whose action matched did not apply: the resource or the conditions.
function nearMiss(policyType, analysis) {
  const explain = analysis.explain
  if (!explain || !explain.actionMatch || explain.matches) {
    return null
  }
  const reasons = []
  if (!explain.resourceMatch) {
    const resources = [...asList(explain.resources), ...asList(explain.notResources)]
    const mismatch = resources.map((r) => `${r.resource}${r.mismatchReason ? ` [${r.mismatchReason}]` : ''}`)
    reasons.push(`resource not matched (${mismatch.join(', ')})`)
  }
  if (explain.principalMatch === 'NoMatch') {
    reasons.push('principal not matched')
  }
  if (!explain.conditionMatch) {
    reasons.push(...asList(explain.conditions).filter((c) => !c.matches).map(conditionText))
  }
  const sid = analysis.statement?.sid?.() ?? undefined
  const where = statementName(policyType, analysis.policyId, sid, analysis.statement?.index?.())
  return `${explain.effect} not applied, ${where}: ${reasons.join('; ') || 'no match'}`
}

function explainAnalysis(analysis) {
  const lines = []
  const decision = analysis.result
  if (decision === 'Allowed') {
    for (const grant of getGrantReasons(analysis)) {
      lines.push(`allowed by ${statementName(grant.policyType, grant.policyIdentifier, grant.statementId, grant.statementIndex)}`)
    }
    return lines
  }
  for (const denial of getDenialReasons(analysis)) {
    if (denial.denialType === 'Explicit') {
      lines.push(`explicitly denied by ${statementName(denial.policyType, denial.policyIdentifier, denial.statementId, denial.statementIndex)}`)
    } else {
      lines.push(`implicitly denied: no ${denial.policyType} policy statement allows${denial.identifier ? ` (${denial.identifier})` : ''}`)
    }
  }
  const sections = [
    ['identity', analysis.identityAnalysis],
    ['resource', analysis.resourceAnalysis]
  ]
  for (const [policyType, section] of sections) {
    for (const statement of section?.unmatchedStatements ?? []) {
      const text = nearMiss(policyType, statement)
      if (text) {
        lines.push(text)
      }
    }
  }
  return lines
}

// The core engine, for dataGap requests only: internal modules of the exactly pinned
// @cloud-copilot/iam-simulate (package-lock.json), as its own runUnsafeSimulation uses them.
async function authorizeUnvalidated(simulation) {
  const base = new URL('./node_modules/@cloud-copilot/iam-simulate/dist/esm/', import.meta.url)
  const [{ authorize }, { AwsRequestImpl }, { RequestContextImpl }, { DiscoveryContextKeyConstraints }, { loadPolicy }] =
    await Promise.all([
      import(new URL('core_engine/CoreSimulatorEngine.js', base)),
      import(new URL('request/request.js', base)),
      import(new URL('requestContext.js', base)),
      import(new URL('context_keys/discoveryContextKeyConstraints.js', base)),
      import('@cloud-copilot/iam-policy')
    ])
  const { request } = simulation
  return authorize({
    request: new AwsRequestImpl(
      request.principal,
      { resource: request.resource.resource, accountId: request.resource.accountId },
      request.action,
      new RequestContextImpl(request.contextVariables)
    ),
    sessionPolicy: undefined,
    identityPolicies: simulation.identityPolicies.map((p) => loadPolicy(p.policy, { name: p.name })),
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    resourcePolicy: simulation.resourcePolicy
      ? loadPolicy(simulation.resourcePolicy, { name: simulation.resourcePolicy.name })
      : undefined,
    permissionBoundaries: undefined,
    vpcEndpointPolicies: undefined,
    simulationParameters: {
      simulationMode: 'Strict',
      discoveryContextKeyConstraints: new DiscoveryContextKeyConstraints([])
    },
    serviceSettings: { s3: { blockPublicAccess: undefined } }
  })
}

async function simulateOne(item) {
  const request = item.request ?? {}
  const base = { id: item.id ?? null, decision: null, errors: null, explanation: [], ignoredContextKeys: [] }
  const simulation = {
    request: {
      principal: request.principal,
      action: request.action,
      resource: { resource: request.resource, accountId: request.account },
      contextVariables: request.context ?? {}
    },
    identityPolicies: item.identityPolicies ?? [],
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    ...(item.resourcePolicy ? { resourcePolicy: item.resourcePolicy } : {})
  }
  let response
  try {
    response = await runSimulation(simulation, { simulationMode: 'Strict' })
  } catch (error) {
    return { ...base, errors: { message: `simulator exception: ${error?.message ?? error}` } }
  }
  if (response.resultType === 'error') {
    if (item.dataGap && response.errors?.message === 'no.resource.types') {
      const analysis = await authorizeUnvalidated(simulation)
      return {
        ...base,
        decision: analysis.result,
        explanation: explainAnalysis(analysis),
        unvalidated: `no resource type in the simulator's data: ${item.dataGap}`
      }
    }
    return { ...base, errors: response.errors }
  }
  if (response.resultType === 'wildcard') {
    // A wildcard resource for an action with resource types runs one simulation per pattern in
    // the policies: not one concrete request, so the caller must name a concrete ARN.
    return {
      ...base,
      errors: { message: 'wildcard.resource.for.action.with.resource.types', resource: request.resource }
    }
  }
  const result = response.result
  const keep = item.keepContextKeys?.keys ?? []
  const dropped = (result.ignoredContextKeys ?? []).filter((key) => keep.includes(key))
  if (dropped.length > 0) {
    const ignored = new Set(result.ignoredContextKeys.filter((key) => !keep.includes(key)))
    const context = Object.fromEntries(
      Object.entries(simulation.request.contextVariables).filter(([key]) => !ignored.has(key))
    )
    const analysis = await authorizeUnvalidated({
      ...simulation,
      request: { ...simulation.request, contextVariables: context }
    })
    return {
      ...base,
      decision: analysis.result,
      explanation: explainAnalysis(analysis),
      ignoredContextKeys: [...ignored],
      resourceType: result.resourceType ?? null,
      unvalidated: `context keys the simulator drops, kept: ${dropped.join(', ')} (${item.keepContextKeys.reason})`
    }
  }
  return {
    ...base,
    decision: response.overallResult,
    explanation: explainAnalysis(result.analysis),
    ignoredContextKeys: result.ignoredContextKeys ?? [],
    resourceType: result.resourceType ?? null,
    ...(item.dataGap ? { dataGapUnused: true } : {})
  }
}

async function answer(item) {
  try {
    return await simulateOne(item)
  } catch (error) {
    return { id: item?.id ?? null, decision: null, errors: { message: `runner exception: ${error?.stack ?? error}` } }
  }
}

async function lineMode() {
  const { createInterface } = await import('node:readline')
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity })
  for await (const line of lines) {
    if (!line.trim()) {
      continue
    }
    let item
    try {
      item = JSON.parse(line)
    } catch (error) {
      process.stdout.write(`${JSON.stringify({ id: null, decision: null, errors: { message: `unparsable line: ${error?.message ?? error}` } })}\n`)
      continue
    }
    process.stdout.write(`${JSON.stringify(await answer(item))}\n`)
  }
}

async function batchMode() {
  const input = JSON.parse(await readStdin())
  if (!Array.isArray(input)) {
    process.stderr.write('stdin must be a JSON array of simulations\n')
    process.exit(2)
  }
  const lines = []
  for (const item of input) {
    lines.push(JSON.stringify(await answer(item)))
  }
  process.stdout.write(lines.length ? `${lines.join('\n')}\n` : '')
}

if (process.argv.includes('--lines')) {
  await lineMode()
} else {
  await batchMode()
}
