import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConnectionRefusedError, DisconnectedError, PublishError } from '../../src/client/index.js';

describe('error messages', () => {
  it('leave out a reason string that only repeats the name of the code', () => {
    const refused = new ConnectionRefusedError(0x86, 5, { reasonString: 'Bad user name or password' });
    assert.equal(refused.message, 'connection refused (134: bad user name or password)');
    assert.equal(refused.reasonString, 'Bad user name or password');
    assert.equal(new PublishError(0x87, 'not authorized.').message, 'publish failed (0x87 not authorized)');
    assert.equal(new DisconnectedError(0x8e, { reasonString: 'session_taken_over' }).message,
      'disconnected by the broker (0x8e session taken over)');
  });

  it('keep a reason string that says more', () => {
    const refused = new ConnectionRefusedError(0x86, 5, { reasonString: 'token expired' });
    assert.equal(refused.message, 'connection refused (134: bad user name or password): token expired');
    assert.equal(new PublishError(0x87, 'no way').message, 'publish failed (0x87 not authorized): no way');
  });
});
