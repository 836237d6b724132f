// The property-bag codec against the forms the Azure SDK and the IoT Hub documentation use.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { decodePropertyBag, encodePropertyBag } from '../../src/iothub/index.js';
import { splitProperties } from '../../src/iothub/property-bag.js';

test('decodes what the Node SDK sends, system and application properties apart', () => {
  const bag = '%24.mid=mid-123&%24.cid=cid-456&%24.ct=application%2Fjson&%24.ce=utf-8&alert=high%20temp&weird%2Fkey%26%3D=a%3Db%26c%2Fd%20%C3%BC';
  const { system, application } = splitProperties(decodePropertyBag(bag));
  assert.deepEqual(system, { messageId: 'mid-123', correlationId: 'cid-456', contentType: 'application/json', contentEncoding: 'utf-8' });
  assert.deepEqual(application, { alert: 'high temp', 'weird/key&=': 'a=b&c/d ü' });
});

test('raw forms: unencoded $ keys, empty values, bare keys, plus signs, broken escapes', () => {
  const decoded = decodePropertyBag('$.ct=application%2Fjson&empty=&bare&a+b=c+d&bad=%E0%A4%A&&');
  assert.deepEqual([...decoded], [['$.ct', 'application/json'], ['empty', ''], ['bare', null], ['a b', 'c d'], ['bad', '%E0%A4%A']]);
});

test('encodes null as a bare key and empty as key=, escaping what the SDK decodes', () => {
  assert.equal(encodePropertyBag([['$.mid', 'm 1'], ['flag', null], ['empty', ''], ['a/b', "x&y=z!'()*"]]), '%24.mid=m%201&flag&empty=&a%2Fb=x%26y%3Dz%21%27%28%29%2A');
});

test('any properties survive encode then decode', () => {
  fc.assert(
    fc.property(fc.uniqueArray(fc.tuple(fc.string({ minLength: 1 }), fc.option(fc.string(), { nil: null })), { selector: ([k]) => k, maxLength: 8 }), (entries) => {
      const wellFormed = entries.filter(([k, v]) => !/[\uD800-\uDFFF]/.test(k + (v ?? '')));
      assert.deepEqual([...decodePropertyBag(encodePropertyBag(wellFormed))], wellFormed);
    }),
    { numRuns: 300 },
  );
});
