import { main } from './service.js';

await main('all');
