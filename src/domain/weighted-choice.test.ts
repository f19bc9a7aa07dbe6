import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import type { Status } from './types.js';
import { chooseByWeight, hashDraw, seededDraws } from './weighted-choice.js';

const v = (version: string, status: Status, trafficPercentage: number) => ({ version, status, trafficPercentage });

describe('chooseByWeight', () => {
  const versions = [v('0.9.0', 'inactive', 0), v('1.0.0', 'blue', 80), v('2.0.0', 'green', 20)];
  it('maps the draw onto cumulative shares', () => {
    assert.equal(chooseByWeight(versions, 0)?.version, '1.0.0');
    assert.equal(chooseByWeight(versions, 0.7999)?.version, '1.0.0');
    assert.equal(chooseByWeight(versions, 0.8)?.version, '2.0.0');
    assert.equal(chooseByWeight(versions, 0.99999)?.version, '2.0.0');
  });
  it('never picks a version at 0% or inactive; none when nothing carries traffic', () => {
    const draws = seededDraws(7);
    const picks = new Set(Array.from({ length: 2000 }, () => chooseByWeight([v('1.0.0', 'blue', 100), v('2.0.0', 'green', 0)], draws())?.version));
    assert.deepEqual([...picks], ['1.0.0']);
    assert.equal(chooseByWeight([v('1.0.0', 'inactive', 0)], 0.5), undefined);
  });
  it('10,000 seeded draws at 80/20 land within 1.5 points of 80/20', () => {
    const draws = seededDraws(42);
    let green = 0;
    for (let i = 0; i < 10_000; i++) if (chooseByWeight(versions, draws())!.version === '2.0.0') green++;
    assert.ok(Math.abs(green / 100 - 20) < 1.5, `green got ${green / 100}%`);
  });
  it('hashed keys split by weight too, and a key always lands in the same place', () => {
    let green = 0;
    for (let i = 0; i < 5000; i++) if (chooseByWeight(versions, hashDraw(`client-${i}`))!.version === '2.0.0') green++;
    assert.ok(Math.abs(green / 50 - 20) < 2.5, `green got ${green / 50}%`);
    assert.equal(hashDraw('alice'), hashDraw('alice'));
    assert.notEqual(hashDraw('alice'), hashDraw('bob'));
  });
});
