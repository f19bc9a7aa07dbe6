#!/usr/bin/env node
import { main } from '../process-io.js';

main(['deploy']);
